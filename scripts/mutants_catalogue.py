"""The seeded science bugs of ``make mutants`` (``scripts/mutants.py``).

One tuple per bug: (id, chapter or "core", file, the exact text it replaces, the replacement, what
it breaks). Each is a small, silent edit a careful developer could make: an axis, a sign, an
index from a subset back to the data set, a threshold, a normalisation. ``old`` must occur exactly
once in its file; a bug whose text has moved is reported as stale, so the list follows the code.
Three of them escaped ``make test`` in an earlier audit: ``foam_box_axes_swapped``,
``cauli_maps_replaced_by_noise``, ``lung_smoothgrad_noise_zero``.
"""
MUTANTS = [
    # --- 01_foam -------------------------------------------------------------------------------
    ("foam_box_axes_swapped", "01_foam", "src/xaibook/foam/dataset.py",
     """        masks[i, int(np.floor(t * scale)):int(np.ceil(b * scale)), int(np.floor(l * scale)):int(np.ceil(r * scale))] = True""",
     """        masks[i, int(np.floor(l * scale)):int(np.ceil(r * scale)), int(np.floor(t * scale)):int(np.ceil(b * scale))] = True""",
     "The interface-and-foam box is read with rows and columns swapped, so the GradCAM++ interface energy is measured in a transposed (wrong) region."),
    ("foam_binary_low_counts_as_no_foam", "01_foam", "src/xaibook/foam/experiment.py",
     """    return (y > 0).long()""",
     """    return (y > 1).long()""",
     "Low foam is labelled 'no foam' in the binary task, so the binary model, its test set balance and its F1 answer a different question than the paper's."),
    ("foam_split_train_val_swapped", "01_foam", "src/xaibook/foam/experiment.py",
     """        return np.sort(rest[n_val:]), np.sort(rest[:n_val])""",
     """        return np.sort(rest[:n_val]), np.sort(rest[n_val:])""",
     "Training and validation indices are swapped: both models train on 10% of the images and pick their checkpoint on 90%, degrading Table 3 silently."),
    ("foam_confusion_column_normalised", "01_foam", "src/xaibook/foam/experiment.py",
     """    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)""",
     """    rates = cm / np.maximum(cm.sum(0, keepdims=True), 1)""",
     "Confusion rates are normalised by predicted-class totals instead of true-class totals, so the Fig. 3B ranking ('high -> medium first') is computed on the wrong axis."),
    ("foam_moving_average_not_normalised", "01_foam", "src/xaibook/foam/experiment.py",
     """        avg = np.convolve(p_foam, kernel)[: len(p_foam)] / np.convolve(np.ones_like(p_foam), kernel)[: len(p_foam)]""",
     """        avg = np.convolve(p_foam, kernel)[: len(p_foam)]""",
     "The trailing window sums instead of averaging probabilities, so for k > 1 almost every frame crosses 0.5 and the temporal-averaging F1 claim is judged on nonsense."),
    ("foam_energy_outside_box", "01_foam", "src/xaibook/foam/experiment.py",
     """    return energy_inside(maps, masks).numpy()""",
     """    return energy_inside(maps, ~masks).numpy()""",
     "The interface energy is taken over the complement of the box, inverting the correct-vs-incorrect energy comparison of Fig. 4."),
    # --- 02_cauliflower --------------------------------------------------------------------------
    ("cauli_maps_replaced_by_noise", "02_cauliflower", "src/xaibook/cauliflower/experiment.py",
     """    maps = torch.cat(parts)""",
     """    maps = torch.rand_like(torch.cat(parts))""",
     "The saliency maps are replaced by uniform noise before clustering, so every cluster/reliability result no longer depends on the explanations."),
    ("cauli_ready_window_off_by_one", "02_cauliflower", "src/xaibook/cauliflower/dataset.py",
     """    out["ready"] = ((out["days_to_harvest"] > 0) & (out["days_to_harvest"] <= window_days)).astype(bool)""",
     """    out["ready"] = ((out["days_to_harvest"] > 0) & (out["days_to_harvest"] < window_days)).astype(bool)""",
     "Plants harvested exactly three days later are labelled 'not ready', shrinking the positive class and shifting every accuracy."),
    ("cauli_explains_ready_not_predicted", "02_cauliflower", "src/xaibook/cauliflower/experiment.py",
     """        target = predicted_class if classes is None else class_score(torch.as_tensor(classes[i:i + batch_size]))""",
     """        target = (lambda z: z[:, 1]) if classes is None else class_score(torch.as_tensor(classes[i:i + batch_size]))""",
     "Every map explains the 'ready' class instead of the predicted class, so maps of 'not ready' predictions no longer show the evidence the model used."),
    ("cauli_centre_signed_sign_flipped", "02_cauliflower", "src/xaibook/cauliflower/experiment.py",
     """    mass = np.clip(-maps if signed else maps, 0, None)""",
     """    mass = np.clip(maps, 0, None)""",
     "For occlusion and LIME (paper's sign: negative = support) the centre concentration measures the evidence AGAINST the class."),
    ("rel_knn_graph_off_by_one", "02_cauliflower", "src/xaibook/cauliflower/reliability.py",
     """        kth = np.sort(d, axis=1)[:, k]""",
     """        kth = np.sort(d, axis=1)[:, k - 1]""",
     "The kNN similarity graph counts the point itself as one of its k neighbours (MATLAB uses K = k + 1), so each point keeps one neighbour too few and the spectral clusters change."),
    ("rel_wrong_eigenvectors", "02_cauliflower", "src/xaibook/cauliflower/reliability.py",
     """        top, V = linalg.eigh(M, subset_by_index=[n - n_components, n - 1])""",
     """        top, V = linalg.eigh(M, subset_by_index=[0, n_components - 1])""",
     "Spectral clustering uses the eigenvectors of the Laplacian's LARGEST eigenvalues, so k-means clusters noise directions instead of the graph's components."),
    ("rel_knn_skips_nearest", "02_cauliflower", "src/xaibook/cauliflower/reliability.py",
     """    idx = np.argsort(distances, axis=1, kind="stable")[:, :k]""",
     """    idx = np.argsort(distances, axis=1, kind="stable")[:, 1:k + 1]""",
     "A leave-one-out habit drops each test map's nearest validation map from the vote, so test images are assigned to the wrong clusters."),
    ("rel_test_projected_with_test_pca", "02_cauliflower", "src/xaibook/cauliflower/reliability.py",
     """        Z = transform(self.pca, maps)""",
     """        Z = transform(fit_embedding(maps, self.pca.n_components_), maps)""",
     "Test maps are projected with a PCA refitted on the test maps, so their coordinates are not comparable with the validation clusters they are assigned to."),
    ("rel_reliability_not_complemented", "02_cauliflower", "src/xaibook/cauliflower/reliability.py",
     """    score = 1 - r[c]""",
     """    score = r[c]""",
     "The farmer is shown the cluster's error rate r_q as its reliability, inverting the reliability bands (r_q is higher = LESS reliable)."),
    # --- 03_lung_sliding -------------------------------------------------------------------------
    ("lung_smoothgrad_noise_zero", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """    return {"method": "vanillagrad", "n_samples": cfg.smoothgrad_samples, "noise": cfg.smoothgrad_noise,""",
     """    return {"method": "vanillagrad", "n_samples": cfg.smoothgrad_samples, "noise": 0.0,""",
     "SmoothGrad runs with zero noise, so it equals the vanilla gradient and the 'SmoothGrad is less noisy' comparison is meaningless."),
    ("lung_saliency_subset_index", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """    index = test[ok][: cfg.saliency_patches]""",
     """    index = np.flatnonzero(ok)[: cfg.saliency_patches]""",
     "Positions within the test subset are used as data-set indices, so the explained patches are arbitrary (mostly training) patches, not correctly called pleura test patches."),
    ("lung_band_along_columns", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """    return np.broadcast_to(band[:, :, None], (len(depth_px), patch, patch))""",
     """    return np.broadcast_to(band[:, None, :], (len(depth_px), patch, patch))""",
     "The pleural band is laid out as a vertical stripe of columns instead of a horizontal stripe of rows, so the band-energy measure looks in the wrong place."),
    ("lung_band_ignores_patch_top", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """    rows = np.arange(patch)[None, :] + top""",
     """    rows = np.arange(patch)[None, :]""",
     "Patch rows are compared with the pleura depth in frame coordinates without the patch's offset, placing the band at the wrong depth (often outside the patch)."),
    ("lung_pleura_depth_at_ribs", "03_lung_sliding", "src/xaibook/lung/standin.py",
     """    z = p.rib_depth_mm + spec.pleura_below_ribs_mm + m["pulse"][k] + m["chest"][k] + m["hand_z"][k]""",
     """    z = p.rib_depth_mm + m["pulse"][k] + m["chest"][k] + m["hand_z"][k]""",
     "The ground-truth pleura depth used for the band mask is placed at the rib line, so the 'saliency on the pleura' claim is measured against the wrong depth."),
    ("lung_tiles_rows_cols_swapped", "03_lung_sliding", "src/xaibook/lung/dataset.py",
     """    return region.reshape(t, rows, patch, cols, patch).transpose(1, 3, 0, 2, 4)""",
     """    return region.reshape(t, rows, patch, cols, patch).transpose(3, 1, 0, 2, 4)""",
     "Patch rows and columns are swapped, so the '2_' data sets keep the first two columns instead of the two rows at the pleura and 'row 0' no longer means 'at the pleura'."),
    ("lung_logit_as_probability", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """        return np.concatenate([torch.sigmoid(model(x[i:i + batch].to(device))[:, 0]).cpu().numpy()""",
     """        return np.concatenate([model(x[i:i + batch].to(device))[:, 0].cpu().numpy()""",
     "Raw logits are returned as P(present), so thresholding at 0.5 means p >= 0.62 and every accuracy, sensitivity and patient verdict shifts."),
    ("lung_sensitivity_is_precision", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """    sens = tp / (tp + fn) if tp + fn else float("nan")""",
     """    sens = tp / (tp + fp) if tp + fp else float("nan")""",
     "Sensitivity is computed as precision, which changes Table 4/5 and the 3D-vs-M-mode sensitivity claim."),
    ("lung_precise_bn_on_validation", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """                update_bn((x[i:i + 128].to(device) for i in range(0, len(x), 128)), model)""",
     """                update_bn((xv[i:i + 128] for i in range(0, len(xv), 128)), model)""",
     "Batch norm's statistics are recomputed on the validation patients instead of the training patches: the checkpoint's choosers leak into the network it evaluates, and the test calls use other patients' normalisation."),
    ("lung_freeze_rows_not_time", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """    frozen = x[:, :, :1].expand_as(x).contiguous()""",
     """    frozen = x[:, :, :, :1].expand_as(x).contiguous()""",
     "The motion ablation repeats the first image row instead of the first frame, so 'frozen' clips still move and the ablation no longer tests reliance on motion."),
    ("resnet3d_l2_factor_halved", "03_lung_sliding", "src/xaibook/models/resnet3d.py",
     """    return [{"params": kernels, "weight_decay": 2 * l2}, {"params": rest, "weight_decay": 0.0}]""",
     """    return [{"params": kernels, "weight_decay": l2}, {"params": rest, "weight_decay": 0.0}]""",
     "Keras' l2(1e-4) adds 2*lambda*w to the gradient; dropping the factor 2 halves the regularisation of all 15 3D ResNets."),
    # --- 04_steel_defects ------------------------------------------------------------------------
    ("steel_rle_row_major", "04_steel_defects", "src/xaibook/steel/rle.py",
     """    return flat[:-1].astype(bool).reshape((height, width), order="F")""",
     """    return flat[:-1].astype(bool).reshape((height, width), order="C")""",
     "Kaggle's column-major run-length masks are decoded row-major, so defect masks land in the wrong pixels and every pointing-game score is wrong."),
    ("steel_distance_mask_not_inverted", "04_steel_defects", "src/xaibook/metrics/pointing.py",
     """            out[i] = ndimage.distance_transform_edt(~mi) / diagonal""",
     """            out[i] = ndimage.distance_transform_edt(mi) / diagonal""",
     "The distance mask measures the distance inside the defect to its border instead of outside to the defect, so outside mass is never charged and the distance game is wrong."),
    ("steel_distance_not_normalised", "04_steel_defects", "src/xaibook/metrics/pointing.py",
     """            out[i] = ndimage.distance_transform_edt(~mi) / diagonal""",
     """            out[i] = ndimage.distance_transform_edt(~mi)""",
     "Distances stay in pixels instead of fractions of the diagonal, so outside mass is charged up to ~360x its value and all distance scores collapse towards 0."),
    ("steel_raw_cam_relu", "04_steel_defects", "src/xaibook/steel/experiment.py",
     """RAW_CAM = {"normalize": False, "relu": False}""",
     """RAW_CAM = {"normalize": False, "relu": True}""",
     "GradCAM and GradCAM++ maps are rectified before the normalisation ablation, so All/Abs/ReLU no longer differ for them and Table 3's CAM rows change."),
    ("steel_blur_sigma_not_rescaled", "04_steel_defects", "src/xaibook/steel/experiment.py",
     """        return self.blur_sigma_at_256 * self.input_size / 256""",
     """        return self.blur_sigma_at_256""",
     "DeepLift's blur reference keeps 10 px at 64-px inputs (a 4x wider blur relative to the patch), changing the zero-vs-blur DeepLift comparison."),
    ("steel_patch_images_transposed", "04_steel_defects", "src/xaibook/steel/dataset.py",
     """    grey_p = grey[:, span].reshape(PATCH, N_PATCHES, PATCH).transpose(1, 0, 2)""",
     """    grey_p = grey[:, span].reshape(PATCH, N_PATCHES, PATCH).transpose(1, 2, 0)""",
     "Each patch image is transposed while its defect mask is not, so saliency is scored against a mask that does not overlie the defect."),
    ("steel_freeze_off_by_one", "04_steel_defects", "src/xaibook/models/__init__.py",
     """    for name in order[:order.index(stage)]:""",
     """    for name in order[:order.index(stage) + 1]:""",
     "The first stage meant to be trainable is frozen too (e.g. layer3 in the paper profile, conv1 in the fast one), changing the fine-tuned model and its maps."),
    # --- 05_feature_cam --------------------------------------------------------------------------
    ("fcam_input2_ratio_swapped", "05_feature_cam", "src/xaibook/featurecam/method.py",
     """    return {1: edges, 2: (2 * y + edges) / 3, 3: (y + edges) / 2}""",
     """    return {1: edges, 2: (y + 2 * edges) / 3, 3: (y + edges) / 2}""",
     "Input 2 blends image and edges 1:2 instead of 2:1, so 'Ours 1' (addition with input 2) is a different map."),
    ("fcam_add_k_on_cam", "05_feature_cam", "src/xaibook/featurecam/method.py",
     """        out = k * feature + cam""",
     """        out = feature + k * cam""",
     "Eq. 7's weight k is applied to the CAM instead of the feature input, so the additive Feature CAM is dominated by edges."),
    ("fcam_percentile_complement", "05_feature_cam", "src/xaibook/featurecam/method.py",
     """    thresholds = torch.quantile(flat.double(), percentile / 100, dim=1).to(maps.dtype)[:, None, None]""",
     """    thresholds = torch.quantile(flat.double(), 1 - percentile / 100, dim=1).to(maps.dtype)[:, None, None]""",
     "The explanation map keeps the top 80% of pixels instead of the top 20%, inflating right-classification and confidence in Tables 2-3."),
    ("fcam_second_class_is_first", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """    return probs.topk(2, dim=1).indices[:, 1]""",
     """    return probs.topk(2, dim=1).indices[:, 0]""",
     "The class-discrimination test explains the top-1 class twice, so every map appears class-insensitive (Spearman 1) by construction."),
    ("fcam_hed_input_unit_scale", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """    frames = torch.from_numpy(crops).permute(0, 3, 1, 2).float()""",
     """    frames = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255""",
     "HED is fed images in [0, 1] although it subtracts the Caffe mean in [0, 255], so its edge maps (and every Feature CAM) are garbage."),
    ("fcam_explanation_normalised_twice", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """            explained = softmax(clf, explanation_maps(images01, run.maps(cam, variant), cfg.percentile))""",
     """            explained = softmax(clf, explanation_maps(x, run.maps(cam, variant), cfg.percentile))""",
     "Explanation maps are built from already normalised inputs and normalised again by softmax(), so Tables 2-3 score a doubly normalised image."),
    ("hed_rgb_not_bgr", "05_feature_cam", "src/xaibook/models/hed.py",
     """        return x.float().flip(1) - self.bgr_mean""",
     """        return x.float() - self.bgr_mean""",
     "HED receives RGB where its Caffe weights expect BGR, changing every edge map that Feature CAM fuses."),
    ("hed_fuse_probabilities", "05_feature_cam", "src/xaibook/models/hed.py",
     """        fused = torch.sigmoid(self.fuse(logits))""",
     """        fused = torch.sigmoid(self.fuse(torch.sigmoid(logits)))""",
     "The fusion layer is applied to side probabilities instead of side logits, so the fused edge map differs from HED's."),
    # --- core (saliency / metrics / training) -----------------------------------------------------
    ("core_cam_relu_dropped", "core", "src/xaibook/saliency/_core.py",
     """    return cam.clamp_min(0) if relu else cam""",
     """    return cam""",
     "Grad-CAM-family maps keep negative evidence, so min-max scaling shifts every CAM (chapters 01, 02, 05) away from ReLU(sum w A)."),
    ("core_normalise_percentile_complement", "core", "src/xaibook/saliency/normalise.py",
     """    hi = flat.amax(1, keepdim=True) if cap == "100" else percentile(flat, float(cap))""",
     """    hi = flat.amax(1, keepdim=True) if cap == "100" else percentile(flat, 100 - float(cap))""",
     "The '-99' normalisations cap at the 1st instead of the 99th percentile, turning maps nearly binary in Table 3's ablation."),
    ("core_normalise_min_over_batch", "core", "src/xaibook/saliency/normalise.py",
     """    lo = flat.amin(1, keepdim=True)""",
     """    lo = flat.amin(0, keepdim=True)""",
     "The minimum of Eq. 1 is taken per pixel over the batch instead of per map, so each map's scaling depends on the other samples."),
    ("core_relu_rectifier_dropped", "core", "src/xaibook/saliency/normalise.py",
     """_RECTIFIERS = {"All": lambda m: m, "Abs": torch.abs, "ReLU": lambda m: m.clamp_min(0)}""",
     """_RECTIFIERS = {"All": lambda m: m, "Abs": torch.abs, "ReLU": lambda m: m}""",
     "The ReLU normalisation is identical to 'All', so the rectification claim of Lorentz et al. is judged on a no-op."),
    ("core_scorecam_logit_weights", "core", "src/xaibook/saliency/scorecam.py",
     """            out = logits.softmax(1) if self.variant == "wang2020" else logits""",
     """            out = logits""",
     "Score-CAM weights channels by raw logits instead of softmax probabilities, changing its maps and scores."),
    ("core_average_drop_unclamped", "core", "src/xaibook/metrics/explanation.py",
     """    return 100 * (before - after).clamp_min(0) / before""",
     """    return 100 * (before - after) / before""",
     "Average Drop % loses its max(0, .), so confidence increases cancel drops and the metric is no longer the paper's."),
    ("core_chunk_targets_first_rows", "core", "src/xaibook/saliency/chunked.py",
     """        return target(torch.cat([before, z, after]))[lo:hi]""",
     """        return target(torch.cat([z, before, after]))[: hi - lo]""",
     "Every chunk is scored with the target classes of the first rows of the batch, so images beyond the first chunk are explained for other images' classes."),
    ("core_smoothgrad_absolute_sigma", "core", "src/xaibook/saliency/smooth.py",
     """            noisy = torch.cat([x + std * next(draws) for _ in range(copies)])""",
     """            noisy = torch.cat([x + self.noise * next(draws) for _ in range(copies)])""",
     "SmoothGrad's noise level is used as an absolute sigma instead of a fraction of each input's range, so the noise strength depends on the input scale."),
    ("core_deeplift_ignores_reference", "core", "src/xaibook/saliency/gradients.py",
     """        return (inputs.to(acc) - ref.to(acc)) * grad[:n].to(acc)""",
     """        return inputs.to(acc) * grad[:n].to(acc)""",
     "DeepLift multiplies the multipliers by x instead of x - x', which is only right for the zero reference; blur-reference attributions break summation to delta."),
    ("core_binary_positive_class_zero", "core", "src/xaibook/metrics/classification.py",
     """def prf_from_confusion(cm: np.ndarray, average: str, positive: int = 1) -> PRF:""",
     """def prf_from_confusion(cm: np.ndarray, average: str, positive: int = 0) -> PRF:""",
     "Binary precision/recall/F1 are reported for class 0 (no foam) instead of the positive class, changing Table 3 and the temporal-averaging F1."),
    ("core_augment_vertical_flip", "core", "src/xaibook/training.py",
     """    x[sel] = x[sel].flip(-1)""",
     """    x[sel] = x[sel].flip(-2)""",
     "The 'horizontal' flip augmentation flips images upside down, so foam vessels appear with foam below the liquid half the time."),
    ("core_sanity_draws_repeat_the_cascade", "core", "src/xaibook/saliency/sanity.py",
     """        compare(step, layer, draw, randomised(model, last, draw_seed(seed, draw), batchnorm))""",
     """        compare(step, layer, draw, randomised(model, last, seed, batchnorm))""",
     "The extra randomisations of the last step reuse the cascade's seed: every 'independent' draw is the same network, and the averaged sanity claim is one draw counted eight times."),
    ("core_label_check_one_permutation", "core", "src/xaibook/saliency/sanity.py",
     """    theirs = [maps_of(twin) for twin in twins]""",
     """    theirs = [maps_of(twins[0])] * len(twins)""",
     "The data-randomisation test compares only the first shuffled-label model, however many permutations were fitted."),
    ("fcam_sanity_one_draw", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """    return summarise(model_randomisation(maps_of, clf.model, list(clf.spec.randomise), seed, batchnorm="keep",
                                         draws=cfg.sanity_draws))""",
     """    return summarise(model_randomisation(maps_of, clf.model, list(clf.spec.randomise), seed, batchnorm="keep"))""",
     "Chapter 05's sanity check ignores sanity_draws: its claims read one random classifier, not the mean over sixteen."),
    ("twins_features_untrained", "core", "src/xaibook/training.py",
     """            features = linear_head_features(build(arch, num_classes, pretrained=True), train[0], cfg)""",
     """            features = linear_head_features(build(arch, num_classes, pretrained=False), train[0], cfg)""",
     "The shuffled-label twins share features from a randomly initialised trunk instead of the pretrained one."),
    ("lime_hides_with_own_pixel", "core", "src/xaibook/saliency/lime.py",
     """                if np.array_equal(fudged, image):""",
     """                if False and np.array_equal(fudged, image):""",
     "LIME accepts superpixels whose hiding changes nothing and returns all-zero maps without a word."),
    ("lung_label_permutations_one_seed", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """        y[seen] = s.y[seen][np.random.default_rng(draw_seed(seed, k)).permutation(len(seen))]""",
     """        y[seen] = s.y[seen][np.random.default_rng(seed).permutation(len(seen))]""",
     "Chapter 03's label permutations all use the run's seed: the 'three' retrainings are one permutation trained three times."),
    ("lung_sanity_draws_ignored", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """                                         seed, draws=cfg.sanity_draws))""",
     """                                         seed))""",
     "Chapter 03's sanity check ignores sanity_draws: the paper profile's claims read one random network, not the mean over eight."),

    # --- added 2026-12-04: the glue between tested functions (run_classifier, tables, splits, band placement,
    # claim margins, timing), found by reading where no unit test held a known answer; each has one now ---
    # --- 04_steel_defects ------------------------------------------------------------------------
    ("steel_fps_is_seconds_per_map", "04_steel_defects", "src/xaibook/steel/experiment.py",
     """                     "maps/s": 1.0 / float(np.median(times))})""",
     """                     "maps/s": float(np.median(times))})""",
     "Throughput is reported as the median seconds per map instead of maps per second, so Fig. 5a and the "
     "'batching speeds up SmoothGrad and ScoreCAM' claim are inverted (slower variants look faster)."),
    ("steel_cap_claim_gradient_methods_only", "04_steel_defects", "src/xaibook/steel/experiment.py",
     """              for m in table.index}""",
     """              for m in grads}""",
     "The 'cap at the maximum scores at least as well as the 99th percentile' claim is checked on the gradient "
     "methods only, silently dropping GradCAM, GradCAM++ and ScoreCAM from a claim about every method of Table 3."),
    # --- 05_feature_cam --------------------------------------------------------------------------
    ("fcam_mul_worst_compares_worst_mul", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """    mul_margin = {m: float(v.drop(index=mul).min() - v[mul].max()) for m, v in score.items()}""",
     """    mul_margin = {m: float(v.drop(index=mul).min() - v[mul].min()) for m, v in score.items()}""",
     "'Multiplication is the worst fusion' compares the worst other combination with multiplication's WORST "
     "combination instead of its best, so the claim holds while a multiplication ranks above additions."),
    ("fcam_confidence_of_explained_top1", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """            run.confidence[key] = explained.gather(1, original[:, None])[:, 0].numpy()""",
     """            run.confidence[key] = explained.max(1).values.numpy()""",
     "Table 3's confidence is the explanation map's top-1 probability, whatever class that is, instead of the "
     "probability of the original image's class: confidence rises exactly where the explanation map fails."),
    ("fcam_cams_on_unit_images", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """        cams.update(cam_maps(clf, x, probs.argmax(1), cfg, seed, {name: key}))""",
     """        cams.update(cam_maps(clf, images01, probs.argmax(1), cfg, seed, {name: key}))""",
     "The CAMs are computed on [0, 1] images instead of the classifier's normalised input, so every CAM, every "
     "Feature CAM fused from it and Tables 2-3 explain a network fed the wrong input scale."),
    ("fcam_cam_seconds_not_per_image", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """        seconds[name] = (time.perf_counter() - t0) / len(crops)""",
     """        seconds[name] = time.perf_counter() - t0""",
     "Each CAM's time is the total over all images while HED's is per image, so the closing text's 'HED costs "
     "N times the map' ratio is off by the number of images."),
    ("fcam_sensitivity_percentile_is_kept_share", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """                explained = softmax(clf, explanation_maps(images01, run.maps(cam, variant), q))""",
     """                explained = softmax(clf, explanation_maps(images01, run.maps(cam, variant), 100 - q))""",
     "The percentile-sensitivity table passes the share to keep as the percentile: the row labelled 'top 20%' "
     "keeps the top 80% and vice versa, so right_top80 and right_top20 of the closing text are swapped."),
    ("fcam_deletion_least_relevant_first", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """        order = run.maps(cam, v).flatten(1).argsort(dim=1, descending=True)""",
     """        order = run.maps(cam, v).flatten(1).argsort(dim=1, descending=False)""",
     "Deletion and insertion remove/reveal the LEAST relevant pixels first, so the deletion and insertion AUCs "
     "rank the maps backwards (Petsiuk et al. delete the most relevant first)."),
    ("fcam_discrimination_fused_from_top1_cam", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """        fused_other = all_combinations(other[cam], inputs, cfg.k)""",
     """        fused_other = all_combinations(run.cams[cam], inputs, cfg.k)""",
     "The runner-up class's Feature CAMs are fused from the top-1 class's CAM, so every Feature CAM row of the "
     "class-discrimination table is Spearman 1 and 'Feature CAM is no more class-discriminative' holds by construction."),
    ("fcam_summary_sanity_reads_last_step", "05_feature_cam", "src/xaibook/featurecam/experiment.py",
     """    first = sanity[sanity["randomised down to"] == sanity["randomised down to"].iloc[0]].set_index("map")["Spearman"]""",
     """    first = sanity[sanity["randomised down to"] == sanity["randomised down to"].iloc[-1]].set_index("map")["Spearman"]""",
     "The closing text quotes the fully randomised step's Spearman as 'with the classifier layer's weights "
     "randomised', so sanity_gradcampp/sanity_fcam and the sentence built on them describe another step."),
    ("vgg16_cam_layer_before_relu", "05_feature_cam", "src/xaibook/models/imagenet.py",
     """    arch="vgg16", source="torchvision", resolution=224, resize=256, cam_layer="features.29",""",
     """    arch="vgg16", source="torchvision", resolution=224, resize=256, cam_layer="features.28",""",
     "The paper profile's VGG16 CAMs read conv5_3 before its ReLU (signed activations, same 14x14 grid) instead "
     "of the rectified conv5_3 of the Grad-CAM paper, changing every VGG16 CAM and Feature CAM."),
    ("inception_transform_input_off", "05_feature_cam", "src/xaibook/models/imagenet.py",
     """{"aux_logits": True, "transform_input": True, "init_weights": False}""",
     """{"aux_logits": True, "transform_input": False, "init_weights": False}""",
     "InceptionV3's IMAGENET1K_V1 weights expect torchvision's transform_input (ImageNet-normalised input mapped "
     "to the Google [-1, 1] scale); without it the paper profile's heavier classifier sees the wrong input scale."),
    # --- core / models -----------------------------------------------------------------------------
    ("core_lbfgs_ignores_class_repeats", "core", "src/xaibook/training.py",
     """    if cfg.class_repeats is not None:
        w = w * np.asarray(cfg.class_repeats, dtype=float)[y]""",
     """    # class_repeats only changes how often Adam sees a class (epoch_order); the solver weighs every sample once""",
     "The linear-head solver drops the per-class repeats, so chapter 02's fast profile no longer weighs "
     "not-ready images 1.5x as the paper's augmentation does: its classifier, maps and reliabilities change."),
    ("resnet3d_bottleneck_stride_on_3x3", "03_lung_sliding", "src/xaibook/models/resnet3d.py",
     """        self.conv1 = SameConv3d(in_channels, filters, 1, stride)
        self.pre2 = bn_relu(filters)
        self.conv2 = SameConv3d(filters, filters, 3)""",
     """        self.conv1 = SameConv3d(in_channels, filters, 1)
        self.pre2 = bn_relu(filters)
        self.conv2 = SameConv3d(filters, filters, 3, stride)""",
     "ResNet3D-50's bottleneck strides in its 3x3x3 convolution (torchvision's 'v1.5' habit) instead of the first "
     "1x1x1 as keras-resnet3d does: same shapes and parameter count, a different network for the depth comparison."),
    # --- 01_foam -------------------------------------------------------------------------------
    ("foam_moving_average_leading_window", "01_foam", "src/xaibook/foam/experiment.py",
     """        avg = np.convolve(p_foam, kernel)[: len(p_foam)] / np.convolve(np.ones_like(p_foam), kernel)[: len(p_foam)]""",
     """        avg = np.convolve(p_foam, kernel)[k - 1:] / np.convolve(np.ones_like(p_foam), kernel)[k - 1:]""",
     "The 'trailing' average is cut from the wrong end of the full convolution: each frame averages itself and the "
     "NEXT k-1 frames, so the online sensor peeks into the future and the temporal-averaging F1 claim is judged on a "
     "non-causal filter."),
    ("foam_examples_least_confident", "01_foam", "src/xaibook/foam/experiment.py",
     """    order = np.argsort(-confidence, kind="stable")""",
     """    order = np.argsort(confidence, kind="stable")""",
     "The sign of the sort is lost: Fig. 4's 'most confident' correct and incorrect examples are the least "
     "confident ones, so the figure shows borderline frames instead of what the model is sure of."),
    ("foam_sanity_frames_from_whole_set", "01_foam", "src/xaibook/foam/experiment.py",
     """        x, classes = images[t["test"][pick]], np.asarray(preds[name])[pick]""",
     """        x, classes = images[pick], np.asarray(preds[name])[pick]""",
     "Positions within the test set are used as manifest rows: the model-randomisation check explains the first "
     "(training) frames of the manifest with the predicted classes of other (test) frames."),
    ("foam_confusions_ranked_by_count", "01_foam", "src/xaibook/foam/experiment.py",
     """        ["rate", "count"], ascending=False).set_index("confusion")""",
     """        ["count", "rate"], ascending=False).set_index("confusion")""",
     "Confusions are ranked by raw count instead of row-normalised rate, so on a test set enriched in high foam "
     "the Fig. 3B 'top two' claims rank class sizes, not error rates (rank_margin still reads rates)."),
    # --- 02_cauliflower --------------------------------------------------------------------------
    ("cauli_adjustment_before_from_validation", "02_cauliflower", "src/xaibook/cauliflower/experiment.py",
     """                         "overall before": before[s].overall, "overall after": after.overall,""",
     """                         "overall before": mod.validation.before.overall, "overall after": after.overall,""",
     "The 'before' accuracy of every row is read from the reliability model, i.e. the VALIDATION set: the test row "
     "compares test-after with validation-before, and the 'adjustment raises test accuracy' claim measures the "
     "val/test gap instead of the adjustment."),
    ("cauli_calibration_observed_from_validation", "02_cauliflower", "src/xaibook/cauliflower/experiment.py",
     """                                   "observed": 1 - tab_t["r_q"][keep], "n": tab_t["n"][keep]}))""",
     """                                   "observed": 1 - tab_v["r_q"][keep], "n": tab_t["n"][keep]}))""",
     "The reliability diagram's observed accuracy is the validation cluster table again, so every cluster sits on "
     "the diagonal and the reliability scores look perfectly calibrated on test whatever they do."),
    ("cauli_farmer_table_unadjusted_answers", "02_cauliflower", "src/xaibook/cauliflower/experiment.py",
     """    right = pd.Series(result.adjusted == np.asarray(y_true))""",
     """    right = pd.Series(result.pred == np.asarray(y_true))""",
     "The farmer table scores the ORIGINAL predictions against bands of the reliability of the ADJUSTED ones: in a "
     "swapped cluster a 'reliable' band is filled with answers the farmer never sees."),
    ("rel_sweep_test_gain_from_validation", "02_cauliflower", "src/xaibook/cauliflower/reliability.py",
     """                             "test_gain_pp": test_after.overall - test_before.overall,""",
     """                             "test_gain_pp": val_after.overall - val_before.overall,""",
     "A copy-paste slip reports the validation gain (flips chosen on those very labels, never negative) as the "
     "test gain, so the robustness sweep and its verdict say the adjustment helps on unseen images."),
    # --- 03_lung_sliding -------------------------------------------------------------------------
    ("lung_band_depth_ignores_clip_start", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """            depth = pleura_depth_px(p, spec, 30.0, starts[c] + CLIP_FRAMES)[starts[c]:starts[c] + CLIP_FRAMES]""",
     """            depth = pleura_depth_px(p, spec, 30.0, CLIP_FRAMES)""",
     "The pleura's depth is taken from the first 2 s of the video for every clip: the band mask of a later clip "
     "follows another breathing phase (chest wall, hand drift, pulse), so the band energy is measured at the wrong "
     "time."),
    ("lung_mmode_trains_on_validation_patients", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """    train = (side == "train") & ~np.isin(patient, list(val_patients))""",
     """    train = (side == "train")""",
     "The M-mode baseline trains on the patients that choose its checkpoint: its validation loss is a training "
     "loss, the checkpoint is picked on seen patients, and the 3D-vs-M-mode comparison is no longer like for like."),
    ("lung_per_frame_energy_over_rows", "03_lung_sliding", "src/xaibook/lung/experiment.py",
     """        return (a.sum(dim=(2, 3)) / a.sum(dim=(1, 2, 3))[:, None]).mean(0).numpy()""",
     """        return (a.sum(dim=(1, 3)) / a.sum(dim=(1, 2, 3))[:, None]).mean(0).numpy()""",
     "The 'energy per frame' sums over time and columns instead of rows and columns: the curve plotted through "
     "the clip is a depth profile (one value per patch row), not the saliency through time."),
    # --- core ------------------------------------------------------------------------------------
    ("core_verdict_mixed_ignores_lower_tolerance", "core", "src/xaibook/book/claims.py",
     """    if spread.lo - tolerance <= paper <= spread.hi + tolerance:""",
     """    if spread.lo <= paper <= spread.hi + tolerance:""",
     "The 'mixed' window loses its tolerance below our spread: a paper value just under our lowest run (within "
     "the tolerance) is reported as 'differs' while the same distance above is 'mixed'."),
    ("core_spread_min_max_swapped", "core", "src/xaibook/book/claims.py",
     """        return Spread(entry["mean"], entry["min"], entry["max"], entry["n"])""",
     """        return Spread(entry["mean"], entry["max"], entry["min"], entry["n"])""",
     "Our spread is read from the bands file with min and max swapped: lo > hi, so the 'mixed' verdict's window "
     "shrinks by the whole spread (paper values inside our runs' range become 'differs') and tables print [max, min]."),

    # --- added 2026-12-04, second pass: saliency core, sanity checks, training, pointing, loaders, simulators,
    # fusions and the band machinery (6 of these 24 were already caught, one only through a crash, now also by a
    # known-answer test; 18 have a new test) ---
    # new: tests/test_saliency.py::test_gradcam_upsampling_by_hand_half_pixel_centres, tests/test_saliency_methods.py::test_scorecam_with_upsampling_matches_the_authors_code
    ("core_cam_upsample_align_corners", "core", "src/xaibook/saliency/_core.py",
     """    return F.interpolate(cam[:, None], size=size, mode=mode, align_corners=False)[:, 0]""",
     """    return F.interpolate(cam[:, None], size=size, mode=mode, align_corners=True)[:, 0]""",
     "Low-resolution CAMs (and Score-CAM's masks) are upsampled with align_corners=True, pytorch-grad-cam's "
     "convention, not the authors' and captum's False: every upsampled map shifts by half a cell towards the corners."),
    # new: tests/test_saliency_methods.py::test_scorecam_with_upsampling_matches_the_authors_code
    ("core_scorecam_masks_minmax_before_upsample", "core", "src/xaibook/saliency/scorecam.py",
     """    return _core.minmax(_core.upsample(activations.to(at_least_float32(activations.dtype)), size))""",
     """    return _core.upsample(_core.minmax(activations.to(at_least_float32(activations.dtype))), size)""",
     "Score-CAM's masks are min-max scaled before upsampling instead of after (Wang et al. Sect. 3, the authors' "
     "code): bilinear smoothing lowers the peak below 1, so every masked input, channel weight and map changes."),
    # new: tests/test_saliency_methods.py::test_scorecam_a_dead_channel_changes_no_weight
    ("core_scorecam_channel_softmax_counts_constant_channels", "core", "src/xaibook/saliency/scorecam.py",
     """    weights = scores.masked_fill(~valid, float("-inf")).softmax(1)""",
     """    weights = scores.softmax(1)""",
     "The pytorch-grad-cam variant's softmax over channels includes the constant (dead) channels with a score of 0, "
     "so every live channel's weight shrinks by a factor that depends on how many channels are dead."),
    # new: tests/test_training.py::test_the_kept_checkpoint_is_the_lowest_validation_loss_not_the_last_epoch
    ("core_fit_checkpoint_by_train_loss", "core", "src/xaibook/training.py",
     """        if result.val_loss[-1] < best:""",
     """        if result.train_loss[-1] < best:""",
     "The checkpoint is chosen by the lowest training loss instead of the lowest validation loss, so the kept "
     "weights are (almost always) the last, overfitted epoch's and best_epoch is reported wrong."),
    # new: tests/test_training.py::test_class_weights_move_a_constant_classifier_to_the_weighted_class_share
    ("core_fit_ignores_class_weights", "core", "src/xaibook/training.py",
     """    return F.cross_entropy(model(x), y, weight=weight)""",
     """    return F.cross_entropy(model(x), y)""",
     "The training loss drops cfg.class_weights (e.g. 0.4 on foam in Austerjost et al.) while the validation loss "
     "keeps them, so the classifier is trained unweighted and checkpointed on a weighted loss."),
    # new: tests/test_sanity.py::test_spearman_of_absolute_values_ignores_a_sign_flip
    ("core_sanity_abs_spearman_signed", "core", "src/xaibook/saliency/sanity.py",
     """        rows.append({"Spearman": _spearman(x, y), "Spearman |map|": _spearman(np.abs(x), np.abs(y)),""",
     """        rows.append({"Spearman": _spearman(x, y), "Spearman |map|": _spearman(x, y),""",
     "The 'Spearman |map|' measure (Adebayo et al.'s rank correlation of absolute values, the one depends_on_model "
     "reads) is computed on the signed maps, so a randomised network that flips a signed map's sign looks unrelated."),
    # new: tests/test_sanity.py::test_randomised_weights_keep_each_tensors_own_scale
    ("core_randomised_unit_std", "core", "src/xaibook/saliency/sanity.py",
     """                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen).to(m.weight) * (std or 1.0))""",
     """                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen).to(m.weight))""",
     "Randomised layers get standard-normal weights instead of weights with the trained tensor's own standard "
     "deviation, so activations explode or saturate through the cascade and the sanity curves change."),
    # new: tests/test_sanity.py::test_depends_on_model_reads_the_last_step_and_all_its_draws
    ("core_depends_on_model_reads_first_step", "core", "src/xaibook/saliency/sanity.py",
     """    last = table[table["step"] == table["step"].max()]""",
     """    last = table[table["step"] == table["step"].min()]""",
     "The model-randomisation verdict reads the first cascade step (top layer only) instead of the last "
     "(everything randomised), and ignores the extra draws of the last step."),
    # caught_by (existing): tests/test_saliency_variants.py::test_smooth_gradcampp_averages_gradient_powers_then_forms_one_map
    ("core_smoothgrad_noise_max_not_range", "core", "src/xaibook/saliency/cam.py",
     """    return (noise * (flat.amax(1) - flat.amin(1))).reshape(b, *([1] * (x.ndim - 1)))""",
     """    return (noise * flat.abs().amax(1)).reshape(b, *([1] * (x.ndim - 1)))""",
     "SmoothGrad's and Smooth Grad-CAM++'s sigma is noise x max|x| instead of noise x (max x - min x) "
     "(Smilkov et al. Sect. 3): for inputs in [0, 1] with a dark pixel they agree, for ImageNet-normalised inputs not."),
    # new: tests/test_pointing.py::test_both_games_clip_negative_saliency_the_same_way
    ("core_energy_game_abs_not_relu", "core", "src/xaibook/metrics/pointing.py",
     """    score = energy_inside(maps.detach(), masks)""",
     """    score = energy_inside(maps.detach().abs(), masks)""",
     "The energy pointing game counts negative saliency as mass (|s| instead of ReLU(s)), unlike the distance game "
     "it is compared with, so signed maps (All-normalised gradients, DeepLift) score differently in the two games."),
    # new: tests/test_training.py::test_an_epoch_with_class_repeats_is_shuffled_across_classes
    ("core_epoch_order_repeats_unshuffled", "core", "src/xaibook/training.py",
     """    return order[torch.randperm(len(order), generator=generator)]""",
     """    return order""",
     "With class_repeats the epoch is not shuffled: batches hold one class each (all class 0 first, then the "
     "repeated class 1), so batch-norm statistics and Adam's steps see single-class batches."),
    # new: tests/test_sanity.py::test_ssim_and_hog_are_taken_on_maps_scaled_to_unit_range (also test_spearman_of_absolute_values_ignores_a_sign_flip)
    ("core_ssim_on_raw_maps", "core", "src/xaibook/saliency/sanity.py",
     """                     "SSIM": float(structural_similarity(_unit(x), _unit(y), data_range=1.0)), "HOG": hog})""",
     """                     "SSIM": float(structural_similarity(x, y, data_range=1.0)), "HOG": hog})""",
     "SSIM is computed on the raw maps with data_range=1 instead of on maps scaled to [0, 1]: raw gradients and "
     "unnormalised CAMs are tiny against the SSIM constants, so any two such maps look alike (SSIM near 1)."),
    # --- 01_foam -------------------------------------------------------------------------------
    ("foam_box_edges_truncated", "01_foam", "src/xaibook/foam/dataset.py",
     """        masks[i, int(np.floor(t * scale)):int(np.ceil(b * scale)), int(np.floor(l * scale)):int(np.ceil(r * scale))] = True""",
     """        masks[i, int(t * scale):int(b * scale), int(l * scale):int(r * scale)] = True""",
     "The box is rescaled by truncation instead of floor/ceil, so the exclusive bottom and right edges lose the "
     "partly covered row and column: at a non-integer scale (250 px stored -> the fast profile's size) the "
     "interface box shrinks and the GradCAM++ interface energy is measured on a smaller region."),
    ("foam_box_drift_sign_flipped", "01_foam", "src/xaibook/foam/standin.py",
     """    lo = int(np.clip(np.floor((left - offset[0]) * size), 0, size - 1))
    hi = int(np.clip(np.ceil((right - offset[0]) * size), lo + 1, size))""",
     """    lo = int(np.clip(np.floor((left + offset[0]) * size), 0, size - 1))
    hi = int(np.clip(np.ceil((right + offset[0]) * size), lo + 1, size))""",
     "The camera's mount drift is applied to the box with the wrong sign: the vessel is drawn shifted one way and "
     "its ground-truth box the other, so every drifted run's interface box misses the walls by twice the drift."),
    ("foam_images_transposed", "01_foam", "src/xaibook/foam/dataset.py",
     """        out[i] = torch.from_numpy(arr.copy()).permute(2, 0, 1)""",
     """        out[i] = torch.from_numpy(arr.copy()).permute(2, 1, 0)""",
     "The (H, W, C) image is permuted to (C, W, H): square crops load without an error but transposed (the vessel "
     "lies on its side), while the interface boxes are not, so the models learn from sideways vessels and the "
     "GradCAM++ interface energy is measured in a box that no longer overlies the interface."),
    # --- 02_cauliflower --------------------------------------------------------------------------
    ("cauli_labels_from_selected_dates_only", "02_cauliflower", "src/xaibook/cauliflower/dataset.py",
     """        labelled = label_readiness(in_field)
        selected = labelled[labelled["date"].isin(wanted)]""",
     """        labelled = label_readiness(in_field[in_field["date"].isin(wanted)])
        selected = labelled""",
     "The flights are filtered to the paper's dates before labelling, so a harvest date that only a later "
     "flight's in_situ_harvested flag reveals is lost: on the real mirror (no harvest_date field) plants cut "
     "between flights are labelled 'not ready' and the positive class shrinks; the stand-in (which writes "
     "harvest_date) hides it."),
    ("cauli_harvest_from_last_flag", "02_cauliflower", "src/xaibook/cauliflower/dataset.py",
     """    first = flagged.groupby("plant_id")["date"].min()""",
     """    first = flagged.groupby("plant_id")["date"].max()""",
     "The harvest date is the LAST flight marked harvested instead of the first, so plants cut early look "
     "harvested weeks later and their images are labelled 'not ready'."),
    # --- 03_lung_sliding -------------------------------------------------------------------------
    ("lung_pulse_on_sliding_patients", "03_lung_sliding", "src/xaibook/lung/standin.py",
     """            lung_pulse_mm=float(rng.uniform(0.1, 0.4)) if (not sliding and rng.random() < spec.lung_pulse_share) else 0.0,""",
     """            lung_pulse_mm=float(rng.uniform(0.1, 0.4)) if (sliding and rng.random() < spec.lung_pulse_share) else 0.0,""",
     "The lung pulse (a cardiac-rate motion of the pleura) is given to patients WITH sliding instead of those without: "
     "the absent class loses its realistic motion confounder, so 'motion below the pleura' separates the classes "
     "trivially and the motion-ablation and band claims are judged on an easier cohort."),
    ("lung_pleura_depth_fps_ratio_inverted", "03_lung_sliding", "src/xaibook/lung/standin.py",
     """    k = np.minimum(np.floor(np.arange(n_frames) * p.fps / fps + 1e-9).astype(int), len(m["chest"]) - 1)""",
     """    k = np.minimum(np.floor(np.arange(n_frames) * fps / p.fps + 1e-9).astype(int), len(m["chest"]) - 1)""",
     "Unified 30-fps frames are mapped to source frames with the rate ratio inverted: for the 54-fps videos the "
     "pleura depth of frame j is read at source frame 0.56 j instead of 1.8 j, so the band mask follows the "
     "breathing at the wrong time (the test only checks fps = p.fps)."),
    # --- 05_feature_cam --------------------------------------------------------------------------
    ("fcam_minmax_min_over_batch", "05_feature_cam", "src/xaibook/featurecam/method.py",
     """    lo = maps.amin(dim=(1, 2), keepdim=True)""",
     """    lo = maps.amin(dim=(0, 1, 2), keepdim=True)""",
     "Each fused map is shifted by the smallest value over the whole batch instead of its own minimum, so a map "
     "whose floor lies above another image's no longer starts at 0 and its scaling depends on the other images."),
    # --- core (book/claims.py) -------------------------------------------------------------------
    ("core_in_band_excludes_edges", "core", "src/xaibook/book/claims.py",
     """        return bool(lo <= self.ours <= hi)""",
     """        return bool(lo < self.ours < hi)""",
     "A number exactly on its band's edge counts as outside: a band clipped to its natural range (e.g. [99, 100] "
     "for a percentage) fails every run that scores 100%, and a number fixed at its floor fails at the floor."),
    ("core_prediction_interval_without_sqrt", "core", "src/xaibook/book/claims.py",
     """    half = k * sd * math.sqrt(1 + 1 / len(vals))""",
     """    half = k * sd""",
     "The band drops the sqrt(1 + 1/n) of a prediction interval for one new run (the uncertainty of the mean), "
     "so every band and claim interval is too narrow."),
    ("core_claim_floor_full_resolution", "core", "src/xaibook/book/claims.py",
     """            lo, hi = _band(c["margins"], "", k1, floor=(c["resolution"] or 0.0) / 2)""",
     """            lo, hi = _band(c["margins"], "", k1, floor=c["resolution"] or 0.0)""",
     "A claim's interval reaches a whole resolution beyond the runs instead of half, so claims whose margins lie "
     "between half and one resolution above zero are called undecided and never gated."),
    ("core_df_counts_runs", "core", "src/xaibook/book/claims.py",
     """    df = max(len(seeds) - 1, 1)""",
     """    df = max(n - 1, 1)""",
     "The t quantile's degrees of freedom count runs instead of seeds, treating two kernel paths of one seed as "
     "independent draws, so every band and claim interval is too narrow."),
]
