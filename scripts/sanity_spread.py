"""Where the spread of a sanity claim comes from, measured on chapter 05 (no training involved).

Spearman of |map| between the trained EfficientNet-Lite0's CAMs and those of a fully randomised copy (every
layer of its cascade, batch norm kept), for every (randomisation draw, photograph) of the fast profile's ten.
Prints, per CAM, the sd of the claim's mean over draws for 4 photographs (the chapter's ``sanity_images``),
for all 10, and for all 10 averaged over pairs of draws: whether more inputs or more draws would narrow
the claim's interval. A developer's measurement, not part of any test (2026-12-03: about a minute).

Usage: python scripts/sanity_spread.py [DRAWS]   (default 8; an even number)
"""
import types, sys
import numpy as np, pandas as pd, torch
from xaibook.featurecam.experiment import settings, photo_set, cam_maps, _unit, to_model, softmax
from xaibook.models.imagenet import load_classifier
from xaibook.saliency.sanity import randomised, similarity
torch.set_num_threads(2)
cfg = settings("fast")
photos = photo_set(cfg, None, 0)
clf = load_classifier(cfg.lighter, pretrained=True)
crops = np.stack([clf.prepare(img)[1] for img in photos.images.values()])
images01 = _unit(crops); x = to_model(clf, images01); classes = softmax(clf, images01).argmax(1)
draws = int(sys.argv[1]) if len(sys.argv) > 1 else 8
ref = cam_maps(clf, x, classes, cfg, 0)
rows = []
for d in range(draws):
    m = randomised(clf.model, list(clf.spec.randomise), d, batchnorm="keep")
    maps = cam_maps(types.SimpleNamespace(model=m, spec=clf.spec), x, classes, cfg, d)
    for cam in ref:
        s = similarity(ref[cam], maps[cam])["Spearman |map|"].to_numpy()
        for i, v in enumerate(s):
            rows.append({"draw": d, "cam": cam, "image": i, "rho": v})
t = pd.DataFrame(rows)
for cam, g in t.groupby("cam"):
    v = g.pivot(index="draw", columns="image", values="rho").to_numpy()
    print(f"{cam}: mean {v.mean():.3f}; per-image sd within a draw {v.std(1, ddof=1).mean():.3f}; "
          f"image means sd {v.mean(0).std(ddof=1):.3f}; draw means sd {v.mean(1).std(ddof=1):.3f}")
    print(f"   sd of the claim's mean over draws: 4 images {v[:, :4].mean(1).std(ddof=1):.3f}; "
          f"10 images {v.mean(1).std(ddof=1):.3f}; " + "; ".join(f"10 images x {k} draws {v.reshape(-1, k, v.shape[1]).mean((1, 2)).std(ddof=1):.3f}" for k in (2, 4, 8) if len(v) >= 2 * k))
