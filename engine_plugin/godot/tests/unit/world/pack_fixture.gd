extends RefCounted
## Builds small engine packs (python_backend/continuum/splats/pack.py's layout, SH degree 0) for
## tests that need a real splat asset without a backend.


## A pack of [param count] splats in a row along x from [param origin], 0.1 m apart.
static func make_pack(count: int, origin: Vector3 = Vector3.ZERO) -> PackedByteArray:
	var height := maxi(1, ceili(count / float(SplatCloud.TEXTURE_WIDTH)))
	var texels := height * SplatCloud.TEXTURE_WIDTH
	var means := _zeros(texels * 16)
	var rotations := _zeros(texels * 8)
	var scales := _zeros(texels * 8)
	var colors := _zeros(texels * 8)
	var log_scale := log(0.05)
	for i in count:
		var position := origin + Vector3(0.1 * i, 0.0, 0.0)
		means.encode_float(i * 16, position.x)
		means.encode_float(i * 16 + 4, position.y)
		means.encode_float(i * 16 + 8, position.z)
		means.encode_float(i * 16 + 12, 2.0)  # opacity logit
		rotations.encode_half(i * 8, 1.0)  # w; x, y, z stay 0
		for axis in 3:
			scales.encode_half(i * 8 + axis * 2, log_scale)
			colors.encode_half(i * 8 + axis * 2, 0.5 * axis)
	var reach := Vector3.ONE * 3.0 * 0.05
	var last := origin + Vector3(0.1 * maxi(count - 1, 0), 0.0, 0.0)
	var cloud := SplatCloud.new()
	cloud.count = count
	cloud.means = means
	cloud.rotations = rotations
	cloud.scales = scales
	cloud.colors = colors
	if count > 0:
		cloud.set_bounds(origin - reach, last + reach)
	return cloud.to_pack()


static func _zeros(size: int) -> PackedByteArray:
	var data := PackedByteArray()
	data.resize(size)
	return data
