#!/usr/bin/env python3
"""Goldens for the YOLO detection loss: Ultralytics' v8DetectionLoss (with its TaskAlignedAssigner) on seeded raw
head outputs, run by the installed ultralytics itself.

Each case saves the raw head outputs per level ([B, 4·regMax, H, W] box logits and [B, nc, H, W] class logits), the
targets as an Ultralytics batch gives them (batch_idx, cls, normalized xywh), the three logged loss items
(`loss.detach()`), the scalar the trainer backpropagates (`(loss * batch_size).sum()`), autograd's gradient of that
scalar w.r.t. every raw output, and the assigner's result (fg mask, target gt index, target scores of the
foreground anchors, target_scores_sum).

Float tensors are stored as base64 of little-endian float32 (exact and small). The assignment of the saved cases is
checked to be independent of how torch.topk breaks ties between equal metrics (the Swift side breaks them by the
lower anchor index), so a golden never holds a tie-dependent fg mask.

Usage:  .venv/bin/python scripts/reference/loss_golden.py    (writes Tests/Fixtures/loss/*.json)
"""
import base64
import json
import os
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

import ultralytics
from ultralytics.cfg import get_cfg
from ultralytics.utils.loss import v8DetectionLoss

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "loss")
REG_MAX = 16
STRIDES = [8, 16, 32]


class HeadStub(nn.Module):
    """What v8DetectionLoss reads from a model: args (default hyperparameters), model[-1] (stride, nc, reg_max), a
    parameter for the device."""

    def __init__(self, nc: int):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.args = get_cfg()
        self.model = [SimpleNamespace(stride=torch.tensor(STRIDES, dtype=torch.float32), nc=nc, reg_max=REG_MAX)]


def b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()).decode()


def random_boxes(gen: torch.Generator, n: int, tiny: int, tiny_size: tuple) -> torch.Tensor:
    """n normalized xywh boxes inside the image; the first `tiny` have sides in tiny_size = (low, span) (sides below
    the assigner's 16-pixel minimum exercise its enlargement)."""
    c = torch.rand(n, 2, generator=gen) * 0.7 + 0.15
    wh = torch.rand(n, 2, generator=gen) * 0.5 + 0.15
    wh[:tiny] = torch.rand(tiny, 2, generator=gen) * tiny_size[1] + tiny_size[0]
    wh = torch.minimum(wh, 2 * torch.minimum(c, 1 - c))  # stay inside the image
    return torch.cat((c, wh), 1)


def tie_free(assigner, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt) -> bool:
    """True when torch.topk's tie-breaking cannot change the fg mask: per valid gt, either every in-gt anchor has a
    positive metric (zero-metric picks are then masked away), or the k-th metric is strictly above the (k+1)-th."""
    if gt_bboxes.shape[1] == 0:
        return True
    assigner.bs, assigner.n_max_boxes = pd_scores.shape[0], gt_bboxes.shape[1]
    in_gts = assigner.select_candidates_in_gts(anc_points, gt_bboxes, mask_gt)
    metric, overlaps = assigner.get_box_metrics(pd_scores, pd_bboxes, gt_labels, gt_bboxes, in_gts * mask_gt)
    k = assigner.topk
    for b in range(metric.shape[0]):
        for g in range(metric.shape[1]):
            if not mask_gt[b, g, 0]:
                continue
            row = metric[b, g]
            if int((row > 0).sum()) == int(in_gts[b, g].sum()):
                continue
            top = torch.sort(row, descending=True).values
            if not top[k - 1] > top[k]:
                return False
    # Anchors claimed by several gts go to the largest overlap: no exact ties there either.
    for b in range(overlaps.shape[0]):
        for a in range(overlaps.shape[2]):
            col = overlaps[b, :, a]
            if col.max() > 0 and int((col == col.max()).sum()) > 1:
                return False
    return True


def make_case(name: str, seed: int, nc: int, img_hw: tuple, image_targets: list, tiny_size: tuple, note: str,
              require_tie_free: bool) -> dict:
    """image_targets: per image (number of boxes, number of tiny boxes)."""
    gen = torch.Generator().manual_seed(seed)
    batch = len(image_targets)
    img_h, img_w = img_hw
    shapes = [(img_h // s, img_w // s) for s in STRIDES]

    # Raw outputs near a trained head: box logits favour distances of a few cells, class logits mostly low.
    bins = torch.arange(REG_MAX, dtype=torch.float32).view(1, 1, REG_MAX, 1, 1)
    box_leaves, cls_leaves = [], []
    for h, w in shapes:
        box = torch.randn(batch, 4, REG_MAX, h, w, generator=gen) * 1.2 - 0.45 * bins
        box_leaves.append(box.reshape(batch, 4 * REG_MAX, h, w).requires_grad_(True))
        cls_leaves.append((torch.randn(batch, nc, h, w, generator=gen) * 1.5 - 2.0).requires_grad_(True))

    batch_idx, classes, boxes = [], [], []
    for i, (n, tiny) in enumerate(image_targets):
        if n == 0:
            continue
        batch_idx.append(torch.full((n,), float(i)))
        classes.append(torch.randint(0, nc, (n,), generator=gen).float())
        boxes.append(random_boxes(gen, n, tiny, tiny_size))
    ultra_batch = {
        "batch_idx": torch.cat(batch_idx) if batch_idx else torch.zeros(0),
        "cls": (torch.cat(classes) if classes else torch.zeros(0)).view(-1, 1),
        "bboxes": torch.cat(boxes) if boxes else torch.zeros(0, 4),
    }

    criterion = v8DetectionLoss(HeadStub(nc))
    captured = {}
    assign = criterion.assigner.forward

    def capturing_assign(*args, **kwargs):
        captured["tie_free"] = tie_free(criterion.assigner, *args)
        captured["result"] = assign(*args, **kwargs)
        return captured["result"]

    criterion.assigner.forward = capturing_assign
    preds = {
        "boxes": torch.cat([t.view(batch, 4 * REG_MAX, -1) for t in box_leaves], -1),
        "scores": torch.cat([t.view(batch, nc, -1) for t in cls_leaves], -1),
        "feats": [torch.zeros(batch, 1, h, w) for h, w in shapes],
    }
    loss, items = criterion.loss(preds, ultra_batch)
    backpropagated = loss.sum()  # BaseTrainer: self.loss = loss.sum(); .backward()
    backpropagated.backward()
    if require_tie_free:
        assert captured["tie_free"], f"{name}: the assignment depends on torch.topk tie-breaking; change the seed"

    _, _, target_scores, fg_mask, target_gt_idx = captured["result"]
    fg_entries = []
    for b, a in fg_mask.nonzero().tolist():
        c = int(target_scores[b, a].argmax())
        fg_entries.append([b, a, c, float(target_scores[b, a, c])])
    hyp = criterion.hyp
    return {
        "name": name,
        "note": note,
        "ultralytics": ultralytics.__version__,
        "torch": torch.__version__,
        "seed": seed,
        "numClasses": nc,
        "regMax": REG_MAX,
        "imageHeight": img_h,
        "imageWidth": img_w,
        "batchSize": batch,
        "hyperparameters": {"box": hyp.box, "cls": hyp.cls, "dfl": hyp.dfl, "topk": criterion.assigner.topk,
                            "alpha": criterion.assigner.alpha, "beta": criterion.assigner.beta},
        "levels": [
            {"stride": s, "height": h, "width": w, "boxes": b64(bl), "classes": b64(cl),
             "boxGradient": b64(bl.grad), "classGradient": b64(cl.grad)}
            for s, (h, w), bl, cl in zip(STRIDES, shapes, box_leaves, cls_leaves)
        ],
        "targets": {
            "batchIndex": [int(x) for x in ultra_batch["batch_idx"].tolist()],
            "classes": [int(x) for x in ultra_batch["cls"].view(-1).tolist()],
            "boxes": b64(ultra_batch["bboxes"]),
        },
        "lossItems": [float(items[k]) for k in ("box_loss", "cls_loss", "dfl_loss")],
        "backpropagated": float(backpropagated.detach()),
        "assignment": {
            "tieFree": bool(captured["tie_free"]),
            "fgMask": [[int(x) for x in row] for row in fg_mask.tolist()],
            "targetGTIndex": [[int(x) for x in row] for row in target_gt_idx.tolist()],
            "foreground": fg_entries,  # [image, anchor, class, target score]
            "targetScoresSum": float(target_scores.sum().clamp(min=1)),
        },
    }


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    cases = [
        # Seed 3: the first seed whose assignment is tie-free (asserted), so its whole fg mask is comparable.
        make_case("nc3_mixed", 3, 3, (64, 160), [(3, 0), (0, 0), (14, 4)], (0.2, 0.1),
                  "B=3: image 0 three boxes, image 1 no targets, image 2 crowded (14 overlapping boxes, 4 small: "
                  "13-19 px high)", require_tie_free=True),
        # Tiny boxes (2-7 px high): some in-gt anchors have a zero metric, so torch.topk's tie-breaking picks some
        # zero-weight foreground anchors; only the anchors with a positive target score are comparable.
        make_case("nc80_mixed", 2, 80, (64, 96), [(12, 3), (2, 0), (0, 0)], (0.03, 0.08),
                  "B=3, 80 classes: image 0 crowded (12 boxes, 3 tiny), image 1 two boxes, image 2 no targets",
                  require_tie_free=False),
        make_case("empty_batch", 4, 3, (64, 64), [(0, 0), (0, 0)], (0.0, 0.0), "B=2, no targets in the whole batch",
                  require_tie_free=True),
    ]
    for case in cases:
        path = os.path.join(OUT, case["name"] + ".json")
        with open(path, "w") as f:
            json.dump(case, f, separators=(",", ":"))
        fg = sum(map(sum, case["assignment"]["fgMask"]))
        print(f"{path}: {os.path.getsize(path)} bytes, items {case['lossItems']}, "
              f"backpropagated {case['backpropagated']:.6f}, fg {fg}")


if __name__ == "__main__":
    main()
