extends "res://tests/test_case.gd"
## Tests of addons/continuum/bridge/float_repr.gd against what Python's repr() prints.

const FloatRepr = preload("res://addons/continuum/bridge/float_repr.gd")

# [the double's bits as an int64, repr(value) in Python 3]; bits, since a literal would be read
# by Godot's own (not correctly rounded) parser.
const PYTHON_REPR := [
	[4591870180066957722, "0.1"],
	[-4631501856787818086, "-0.1"],
	[4607182418800017408, "1.0"],
	[-4610560118520545280, "-2.5"],
	[4532020583610935537, "1e-05"],
	[4846369599423283200, "1e+16"],
	[4831355200913801216, "1000000000000000.0"],
	[4862596447618666293, "1.2345678901234568e+17"],
	[4547007122018943789, "0.0001"],
	[4846369099423283200, "9999000000000000.0"],
	[4936209963552724370, "1e+22"],
	[1, "5e-324"],
	[9218868437227405311, "1.7976931348623157e+308"],
	[4503599627370496, "2.2250738585072014e-308"],
	[4636737291354636288, "100.0"],
	[4602678819172646912, "0.5"],
	[4504762867522569078, "1.5e-07"],
	[4712889646009286656, "12345678.0"],
	[4599075939470750516, "0.30000000000000004"],
	[4595078994801459200, "0.1640625"],
	[5183643170566569984, "3.4028234663852886e+38"],
	[4039728865751334912, "1.1754943508222875e-38"],
	[4544132024016830464, "6.103515625e-05"],
	[0, "0.0"],
	[4653125086964875264, "1230.1533203125"],
	[4509242770942066688, "2.987455332004174e-07"],
	[-4624761988378001408, "-0.27413785457611084"],
	[-4542515522880667648, "-89059.1875"],
	[-4696390205945413632, "-4.546707714325748e-06"],
	[-4541821080355995648, "-99164.65625"],
]


func test_matches_python_repr() -> void:
	for vector: Array in PYTHON_REPR:
		assert_eq(FloatRepr.repr(_double(vector[0])), vector[1], "bits %d" % vector[0])


func test_negative_zero_and_non_finite_as_json_dumps_writes_them() -> void:
	assert_eq(FloatRepr.repr(_double(1 << 63)), "-0.0")
	assert_eq(FloatRepr.repr(INF), "Infinity")
	assert_eq(FloatRepr.repr(-INF), "-Infinity")
	assert_eq(FloatRepr.repr(NAN), "NaN")


func test_float32_values_read_back_exactly() -> void:
	# What the pack header holds: float32 bounds, widened. The repr reads back to the same float.
	var rng := RandomNumberGenerator.new()
	rng.seed = 5
	var values := PackedFloat32Array()
	for i in 200:
		values.append(rng.randfn() * pow(10.0, rng.randi_range(-6, 6)))
	for value in values:
		var text := FloatRepr.repr(value)
		assert_eq(PackedFloat32Array([text.to_float()])[0], value, text)
		assert_true(text.length() <= 24, text)


static func _double(bits: int) -> float:
	var raw := PackedByteArray()
	raw.resize(8)
	raw.encode_s64(0, bits)
	return raw.decode_double(0)
