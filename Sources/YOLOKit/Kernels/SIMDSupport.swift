// Small SIMD helpers shared by the kernels. Loads and stores are unaligned (feature maps start 64-byte
// aligned, but rows and tiles inside them do not).
//
// Note: the standard library's `pointwiseMin` / `pointwiseMax` on SIMD floats compile to a per-lane scalar
// loop (they implement IEEE minNum/maxNum NaN rules); `vmin` / `vmax` below compile to one vminps / vmaxps.

@inline(__always) func loadV(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}
@inline(__always) func loadV(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}
@inline(__always) func storeV(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}
@inline(__always) func loadV8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) func loadV8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) func storeV8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

@inline(__always) func vmax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    a.replacing(with: b, where: a .< b)
}
@inline(__always) func vmin(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    a.replacing(with: b, where: b .< a)
}
