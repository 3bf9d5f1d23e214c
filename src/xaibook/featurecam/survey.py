"""A kit to run the paper's Table 1 study yourself: a static HTML survey, its answers as CSV, a scorer.

Clement et al. asked 25 people, one saliency map at a time, to pick the original image from a
small pool (*Human Faith %*: the share who picked right) and to rate how well the map explains
the image on a 0-6 scale (*Interpretability Index*: the mean rating). :func:`write_survey` writes
that study as one self-contained HTML file (the images are embedded; it works offline, from a USB
stick); each participant's answers download as a CSV file with the columns of
:data:`ANSWER_COLUMNS`; :func:`score` reads any number of such files and reports both measures
per method with 95% confidence intervals that resample participants.

The chapter runs the scorer on *simulated* answers (:func:`simulate_chance_answers`): people who
pick at random and rate at random. That shows the scorer working and the chance level of Human
Faith % for a pool of a given size; it says nothing about real people.
"""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ANSWER_COLUMNS = ("participant", "item", "method", "chosen", "truth", "rating")
RATINGS = tuple(range(7))


@dataclass(frozen=True)
class SurveyItem:
    """One question: a map (H, W) in [0, 1] made by ``method`` for the pool image ``truth``."""

    item: str
    method: str
    truth: str
    heatmap: np.ndarray


def _png(array: np.ndarray, cmap: str | None = None) -> str:
    """A base64 PNG data URI of an (H, W) map in [0, 1] (coloured with ``cmap``) or an (H, W, 3) uint8 image."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    if cmap is not None:
        plt.imsave(buf, np.clip(array, 0, 1), cmap=cmap, vmin=0, vmax=1, format="png")
    else:
        plt.imsave(buf, array, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def write_survey(path: str | Path, items: list[SurveyItem], pool: dict[str, np.ndarray], *, title: str,
                 seed: int = 0) -> Path:
    """Write the survey as one HTML file (written atomically); questions embedded in a random order per
    ``seed`` and shuffled again in each participant's browser; an unnamed participant gets a random code.

    ``pool`` maps image names to (H, W, 3) uint8 photographs; every item's ``truth`` must be one.
    """
    from .._utils.io import atomic_write_text

    missing = sorted({it.truth for it in items} - set(pool))
    if missing:
        raise ValueError(f"survey items refer to images not in the pool: {missing}")
    order = np.random.default_rng(seed).permutation(len(items))
    questions = [{"item": items[i].item, "method": items[i].method, "truth": items[i].truth,
                  "map": _png(items[i].heatmap, "jet")} for i in order]
    thumbs = {name: _png(img) for name, img in pool.items()}
    doc = _TEMPLATE.replace("__TITLE__", html.escape(title)).replace(
        "__DATA__", json.dumps({"questions": questions, "pool": thumbs, "columns": ANSWER_COLUMNS}))
    atomic_write_text(Path(path), doc)
    return Path(path)


def read_answers(paths: list[str | Path]) -> pd.DataFrame:
    """All answer files, checked: the columns of :data:`ANSWER_COLUMNS`, ratings 0-6, no duplicate answers."""
    frames = []
    for p in paths:
        df = pd.read_csv(p)
        missing = [c for c in ANSWER_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{p}: missing column(s) {missing}; a survey answer file has {list(ANSWER_COLUMNS)}")
        bad = df[~df["rating"].isin(RATINGS)]
        if len(bad):
            raise ValueError(f"{p} row {bad.index[0] + 2}: rating {bad['rating'].iloc[0]} is not a whole number 0-6")
        frames.append(df[list(ANSWER_COLUMNS)])
    answers = pd.concat(frames, ignore_index=True)
    dup = answers.duplicated(["participant", "item"])
    if dup.any():
        row = answers[dup].iloc[0]
        raise ValueError(f"participant {row['participant']} answered item {row['item']} twice")
    return answers


def score(answers: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Human Faith % and Interpretability Index per method, with 95% bootstrap intervals over participants."""
    answers = answers.assign(right=(answers["chosen"] == answers["truth"]).astype(float))
    people = answers["participant"].unique()
    rng = np.random.default_rng(seed)
    per = answers.groupby(["method", "participant"]).agg(right=("right", "sum"), rating=("rating", "sum"),
                                                         n=("right", "size"))
    rows = []
    for method, table in per.groupby(level="method"):
        t = table.droplevel("method").reindex(people).fillna(0)
        faith = 100 * t["right"].sum() / t["n"].sum()
        index = t["rating"].sum() / t["n"].sum()
        draws = rng.integers(0, len(people), (n_boot, len(people)))
        r, g, n = t["right"].to_numpy()[draws].sum(1), t["rating"].to_numpy()[draws].sum(1), t["n"].to_numpy()[draws].sum(1)
        ok = n > 0
        rows.append({"method": method, "answers": int(t["n"].sum()), "participants": int((t["n"] > 0).sum()),
                     "Human Faith %": faith, "faith 95% CI": tuple(np.percentile(100 * r[ok] / n[ok], [2.5, 97.5])),
                     "Interpretability Index": index,
                     "index 95% CI": tuple(np.percentile(g[ok] / n[ok], [2.5, 97.5]))})
    return pd.DataFrame(rows).set_index("method")


def simulate_chance_answers(items: list[SurveyItem], pool: list[str], n_participants: int, seed: int) -> pd.DataFrame:
    """SIMULATED answers of people who pick an image and a rating uniformly at random (not real people)."""
    rng = np.random.default_rng(seed)
    rows = [{"participant": f"simulated-{p + 1:02d}", "item": it.item, "method": it.method,
             "chosen": pool[rng.integers(len(pool))], "truth": it.truth, "rating": int(rng.integers(0, 7))}
            for p in range(n_participants) for it in items]
    return pd.DataFrame(rows, columns=list(ANSWER_COLUMNS))


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font-family:sans-serif;max-width:900px;margin:2em auto;padding:0 1em}
.pool img{width:120px;height:120px;object-fit:cover;border:3px solid transparent;cursor:pointer;margin:3px}
.pool img.sel{border-color:#d33}
#map{width:300px;height:300px;image-rendering:pixelated}
button{font-size:1em;margin:.3em}
.rate button.sel{background:#d33;color:#fff}
</style></head><body>
<h1>__TITLE__</h1>
<p>You will see one saliency map at a time. Pick the photograph you think it was made from, then
rate from 0 (does not explain it at all) to 6 (explains it very well) how well the map shows what
is in that photograph. Your answers stay in this browser until you download them at the end.</p>
<p>Your name or code: <input id="who"></p>
<div id="q"></div>
<script>
const D = __DATA__;
let k = 0, chosen = null, rating = null; const answers = [];
// every participant sees the questions in their own order (an order effect would otherwise favour one method),
// and an unnamed participant gets a random code, so two anonymous answer files never collide
for(let i = D.questions.length - 1; i > 0; i--){
  const j = Math.floor(Math.random() * (i + 1)); [D.questions[i], D.questions[j]] = [D.questions[j], D.questions[i]]; }
const code = 'anonymous-' + Math.random().toString(36).slice(2, 10);
const who = () => document.getElementById('who').value.trim() || code;
function show(){
  const q = document.getElementById('q');
  if(k >= D.questions.length){
    q.innerHTML = '<p>Done. <button id="dl">Download my answers (CSV)</button></p>';
    document.getElementById('dl').onclick = download; return;
  }
  const it = D.questions[k]; chosen = null; rating = null;
  let h = `<h2>Map ${k+1} of ${D.questions.length}</h2><img id="map" src="${it.map}"><p>Which photograph?</p><div class="pool">`;
  for(const [name, src] of Object.entries(D.pool)) h += `<img src="${src}" title="${name}" data-name="${name}">`;
  h += '</div><p>How well does the map explain it?</p><div class="rate">';
  for(let r = 0; r <= 6; r++) h += `<button data-r="${r}">${r}</button>`;
  h += '</div><p><button id="next" disabled>Next</button></p>';
  q.innerHTML = h;
  q.querySelectorAll('.pool img').forEach(el => el.onclick = () => {
    q.querySelectorAll('.pool img').forEach(e => e.classList.remove('sel')); el.classList.add('sel');
    chosen = el.dataset.name; ready(); });
  q.querySelectorAll('.rate button').forEach(el => el.onclick = () => {
    q.querySelectorAll('.rate button').forEach(e => e.classList.remove('sel')); el.classList.add('sel');
    rating = +el.dataset.r; ready(); });
  document.getElementById('next').onclick = () => {
    answers.push([who(), it.item, it.method, chosen, it.truth, rating]);
    k++; show(); };
}
function ready(){ document.getElementById('next').disabled = (chosen === null || rating === null); }
function download(){
  const esc = v => '"' + String(v).replace(/"/g, '""') + '"';
  const csv = [D.columns.join(',')].concat(answers.map(r => r.map(esc).join(','))).join('\\n') + '\\n';
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([csv], {type: 'text/csv'}));
  a.download = 'answers-' + who().replace(/[^A-Za-z0-9_-]/g, '_') + '.csv'; a.click();
}
show();
</script></body></html>
"""


@dataclass
class SurveyKit:
    path: Path
    items: list[SurveyItem]
    pool: list[str]
    answers: pd.DataFrame
    scores: pd.DataFrame


def survey_kit(run, cams: list[str], combinations: list, path: str | Path, *, seed: int = 0,
               n_simulated: int = 25, max_photos: int = 12) -> SurveyKit:
    """The survey for one classifier run: each CAM's map and its Feature CAM ``combinations`` for the first
    ``max_photos`` photographs, those photographs as the pool (a pool people can scan); scored on
    ``n_simulated`` SIMULATED chance respondents."""
    from .method import Combination

    items = []
    for cam in cams:
        for variant in ["CAM", *combinations]:
            method = "Grad-CAMs" if variant == "CAM" else (variant.name if isinstance(variant, Combination) else variant)
            for i, photo in enumerate(run.photos[:max_photos]):
                items.append(SurveyItem(f"{photo}|{cam}|{method}", f"{cam} · {method}" if variant != "CAM" else cam,
                                        photo, run.maps(cam, variant)[i].numpy()))
    pool = {name: run.crops[i] for i, name in enumerate(run.photos[:max_photos])}
    written = write_survey(path, items, pool, title="Which photograph does this map explain?", seed=seed)
    answers = simulate_chance_answers(items, list(pool), n_simulated, seed)
    return SurveyKit(written, items, list(pool), answers, score(answers, seed=seed))
