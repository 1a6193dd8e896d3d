import Foundation

/// An axis-aligned box by its corners (x1, y1) top-left and (x2, y2) bottom-right, in Double for the loss.
public struct BoxCorners: Equatable, Sendable {
    public var x1: Double, y1: Double, x2: Double, y2: Double

    public init(x1: Double, y1: Double, x2: Double, y2: Double) {
        self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2
    }

    static let zero = BoxCorners(x1: 0, y1: 0, x2: 0, y2: 0)
}

/// Complete IoU (Zheng et al. 2020) as Ultralytics' `bbox_iou(box1, box2, xywh=False, CIoU=True)` defines it, with
/// its eps 1e-7 in the same places:
///   w = x2 − x1, h = y2 − y1 + eps (both boxes); inter = clamp(min x2 − max x1, 0) · clamp(min y2 − max y1, 0);
///   union = w1·h1 + w2·h2 − inter + eps; iou = inter / union;
///   c² = (enclosing width)² + (enclosing height)² + eps; ρ² = squared centre distance;
///   v = 4/π² · (atan(w2/h2) − atan(w1/h1))²; α = v / (1 − iou + v + eps) (a constant: Ultralytics takes it under
///   no_grad); CIoU = iou − (ρ²/c² + v·α).
/// The gradient is the one PyTorch's autograd gives: min/max split a tie's gradient in halves, clamp passes it at 0.
public enum CompleteIoU {
    public static let eps = 1e-7

    /// CIoU of `a` and `b`; `alpha` replaces the trade-off weight α computed from them (finite-difference checks
    /// hold it fixed, as autograd does).
    public static func value(_ a: BoxCorners, _ b: BoxCorners, alpha: Double? = nil) -> Double {
        Terms(a, b, alpha: alpha).ciou
    }

    /// The trade-off weight α = v / (1 − iou + v + eps) of `a` and `b`.
    public static func alpha(_ a: BoxCorners, _ b: BoxCorners) -> Double {
        Terms(a, b).alpha
    }

    /// CIoU of `a` and `b` and its gradient with respect to the corners of `a` (α held constant; `alpha` as in
    /// `value`).
    public static func valueAndGradient(_ a: BoxCorners, _ b: BoxCorners, alpha: Double? = nil) -> (value: Double, gradient: BoxCorners) {
        let t = Terms(a, b, alpha: alpha)
        var g = BoxCorners.zero
        // ciou = iou − ρ²/c² − v·α
        let dIoU = 1.0, dRho2 = -1 / t.c2, dC2 = t.rho2 / (t.c2 * t.c2), dV = -t.alpha
        // iou = inter / union; union = w1·h1 + w2·h2 − inter + eps
        let dUnion = -dIoU * t.inter / (t.union * t.union)
        let dInter = dIoU / t.union - dUnion
        var dW1 = dUnion * t.h1, dH1 = dUnion * t.w1
        // inter = clamp(iw, 0) · clamp(ih, 0); iw = min(a.x2, b.x2) − max(a.x1, b.x1)
        let dIW = t.iw >= 0 ? dInter * max(t.ih, 0) : 0
        let dIH = t.ih >= 0 ? dInter * max(t.iw, 0) : 0
        g.x2 += dIW * share(a.x2, below: b.x2)
        g.x1 -= dIW * share(a.x1, above: b.x1)
        g.y2 += dIH * share(a.y2, below: b.y2)
        g.y1 -= dIH * share(a.y1, above: b.y1)
        // c² = cw² + ch² + eps; cw = max(a.x2, b.x2) − min(a.x1, b.x1)
        let dCW = dC2 * 2 * t.cw, dCH = dC2 * 2 * t.ch
        g.x2 += dCW * share(a.x2, above: b.x2)
        g.x1 -= dCW * share(a.x1, below: b.x1)
        g.y2 += dCH * share(a.y2, above: b.y2)
        g.y1 -= dCH * share(a.y1, below: b.y1)
        // ρ² = (dx² + dy²) / 4 with dx = b.x1 + b.x2 − a.x1 − a.x2
        g.x1 -= dRho2 * t.dx / 2; g.x2 -= dRho2 * t.dx / 2
        g.y1 -= dRho2 * t.dy / 2; g.y2 -= dRho2 * t.dy / 2
        // v = k · (atan(w2/h2) − atan(u))², u = w1/h1
        let u = t.w1 / t.h1
        let dU = dV * t.vFactor * 2 * t.atanGap * -1 / (1 + u * u)
        dW1 += dU / t.h1
        dH1 -= dU * t.w1 / (t.h1 * t.h1)
        g.x2 += dW1; g.x1 -= dW1
        g.y2 += dH1; g.y1 -= dH1
        return (t.ciou, g)
    }

    /// d min(x, y)/dx as autograd takes it: 1 when x is the smaller, ½ on a tie, else 0.
    private static func share(_ x: Double, below y: Double) -> Double { x < y ? 1 : (x == y ? 0.5 : 0) }
    /// d max(x, y)/dx: 1 when x is the larger, ½ on a tie, else 0.
    private static func share(_ x: Double, above y: Double) -> Double { x > y ? 1 : (x == y ? 0.5 : 0) }

    /// The forward intermediates the gradient reuses.
    private struct Terms {
        let w1, h1, iw, ih, inter, union, cw, ch, c2, dx, dy, rho2, vFactor, atanGap, alpha, ciou: Double

        init(_ a: BoxCorners, _ b: BoxCorners, alpha fixedAlpha: Double? = nil) {
            w1 = a.x2 - a.x1; h1 = a.y2 - a.y1 + CompleteIoU.eps
            let w2 = b.x2 - b.x1, h2 = b.y2 - b.y1 + CompleteIoU.eps
            iw = min(a.x2, b.x2) - max(a.x1, b.x1)
            ih = min(a.y2, b.y2) - max(a.y1, b.y1)
            inter = max(iw, 0) * max(ih, 0)
            union = w1 * h1 + w2 * h2 - inter + CompleteIoU.eps
            let iou = inter / union
            cw = max(a.x2, b.x2) - min(a.x1, b.x1)
            ch = max(a.y2, b.y2) - min(a.y1, b.y1)
            c2 = cw * cw + ch * ch + CompleteIoU.eps
            dx = b.x1 + b.x2 - a.x1 - a.x2
            dy = b.y1 + b.y2 - a.y1 - a.y2
            rho2 = (dx * dx + dy * dy) / 4
            vFactor = 4 / (Double.pi * Double.pi)
            atanGap = atan(w2 / h2) - atan(w1 / h1)
            let v = vFactor * atanGap * atanGap
            alpha = fixedAlpha ?? v / (1 - iou + v + CompleteIoU.eps)
            ciou = iou - (rho2 / c2 + v * alpha)
        }
    }
}
