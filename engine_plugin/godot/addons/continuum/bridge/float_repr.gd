@tool
extends RefCounted
## Python's repr() of a float, which json.dumps writes: the shortest digits that read back to the
## same double, in fixed notation for decimal exponents -4..15 and as d.ddde+XX outside, integral
## values with ".0". Internal: message headers (message_codec.gd) and the engine pack header
## (splat_cloud.gd) are byte-identical to what Python writes only if their floats are.
##
## Godot's own conversions do not give this: String.num_scientific is not always the shortest and
## String.to_float is not correctly rounded, so a "shortest string that reads back" search cannot
## trust it. This is the free-format algorithm of Burger and Dybvig ("Printing Floating-Point
## Numbers Quickly and Accurately", 1996) on small big integers, exact for every double.

# Big integers are little-endian limbs of 28 bits in a PackedInt64Array.
const _LIMB_BITS := 28
const _LIMB := 1 << _LIMB_BITS
const _MASK := _LIMB - 1


## The text Python's repr() gives for [param value] ("NaN", "Infinity" and "-Infinity" as
## json.dumps writes them).
static func repr(value: float) -> String:
	if is_nan(value):
		return "NaN"
	if is_inf(value):
		return "Infinity" if value > 0 else "-Infinity"
	var raw := PackedByteArray()
	raw.resize(8)
	raw.encode_double(0, value)
	var bits := raw.decode_s64(0)
	var sign := "-" if bits < 0 else ""
	var biased := (bits >> 52) & 0x7ff
	var mantissa := bits & ((1 << 52) - 1)
	if biased == 0 and mantissa == 0:
		return sign + "0.0"
	var shortest := _shortest_digits(mantissa if biased == 0 else mantissa | (1 << 52),
		-1074 if biased == 0 else biased - 1075, biased <= 1)
	return sign + _layout(shortest.digits, shortest.point)


# {digits: String, point: int}: value = 0.DIGITS x 10^point, the shortest digits that identify
# f x 2^e among doubles, the closest to it when several are as short.
static func _shortest_digits(f: int, e: int, lowest_exponent: bool) -> Dictionary:
	var even := f % 2 == 0
	var r: PackedInt64Array
	var s: PackedInt64Array
	var m_plus: PackedInt64Array
	var m_minus: PackedInt64Array
	# The gap below is half the gap above at a power of two (not for the smallest exponent).
	var uneven_gaps := f == (1 << 52) and not lowest_exponent
	if e >= 0:
		var be := _shl(_big(1), e)
		if uneven_gaps:
			r = _shl(_big(f), e + 2)
			s = _big(4)
			m_plus = _shl(be, 1)
		else:
			r = _shl(_big(f), e + 1)
			s = _big(2)
			m_plus = be
		m_minus = be
	else:
		if uneven_gaps:
			r = _big(f * 4)
			s = _shl(_big(1), 2 - e)
			m_plus = _big(2)
		else:
			r = _big(f * 2)
			s = _shl(_big(1), 1 - e)
			m_plus = _big(1)
		m_minus = _big(1)
	var k := ceili(log(float(f)) / log(10.0) + e * log(2.0) / log(10.0) - 1e-10)
	if k >= 0:
		s = _mul_pow10(s, k)
	else:
		r = _mul_pow10(r, -k)
		m_plus = _mul_pow10(m_plus, -k)
		m_minus = _mul_pow10(m_minus, -k)
	# The estimate of k may be one too low.
	if _cmp(_add(r, m_plus), s) >= (0 if even else 1):
		k += 1
	else:
		r = _mul(r, 10)
		m_plus = _mul(m_plus, 10)
		m_minus = _mul(m_minus, 10)
	var digits := ""
	while true:
		var d := 0
		while _cmp(r, s) >= 0:
			r = _sub(r, s)
			d += 1
		var low := _cmp(r, m_minus) <= (0 if even else -1)
		var high := _cmp(_add(r, m_plus), s) >= (0 if even else 1)
		if low or high:
			if low and high:
				# The closer of d and d + 1; an exact tie goes to the even digit, as Python's.
				var twice := _cmp(_mul(r, 2), s)
				d += 1 if twice > 0 or (twice == 0 and d % 2 == 1) else 0
			elif high:
				d += 1
			digits += str(d)
			break
		digits += str(d)
		r = _mul(r, 10)
		m_plus = _mul(m_plus, 10)
		m_minus = _mul(m_minus, 10)
	return {"digits": digits, "point": k}


# Python's float_repr_style "short" with the 'r' format: fixed for -4 < point <= 16.
static func _layout(digits: String, point: int) -> String:
	if point > -4 and point <= 16:
		if point <= 0:
			return "0." + "0".repeat(-point) + digits
		if point >= digits.length():
			return digits + "0".repeat(point - digits.length()) + ".0"
		return digits.left(point) + "." + digits.substr(point)
	var exponent := point - 1
	var mantissa := digits.left(1) + ("." + digits.substr(1) if digits.length() > 1 else "")
	return "%se%s%02d" % [mantissa, "-" if exponent < 0 else "+", absi(exponent)]


static func _big(value: int) -> PackedInt64Array:
	var out := PackedInt64Array()
	while value > 0:
		out.append(value & _MASK)
		value >>= _LIMB_BITS
	return out


# a x k for 0 <= k < 2^28.
static func _mul(a: PackedInt64Array, k: int) -> PackedInt64Array:
	var out := PackedInt64Array()
	out.resize(a.size())
	var carry := 0
	for i in a.size():
		var t := a[i] * k + carry
		out[i] = t & _MASK
		carry = t >> _LIMB_BITS
	while carry > 0:
		out.append(carry & _MASK)
		carry >>= _LIMB_BITS
	return out


static func _shl(a: PackedInt64Array, bits: int) -> PackedInt64Array:
	var out := a
	while bits > 0:
		var step := mini(bits, _LIMB_BITS - 1)
		out = _mul(out, 1 << step)
		bits -= step
	return out


static func _mul_pow10(a: PackedInt64Array, power: int) -> PackedInt64Array:
	var out := a
	while power > 0:
		var step := mini(power, 8)
		out = _mul(out, int(pow(10, step)))
		power -= step
	return out


static func _add(a: PackedInt64Array, b: PackedInt64Array) -> PackedInt64Array:
	var out := PackedInt64Array()
	out.resize(maxi(a.size(), b.size()))
	var carry := 0
	for i in out.size():
		var t := (a[i] if i < a.size() else 0) + (b[i] if i < b.size() else 0) + carry
		out[i] = t & _MASK
		carry = t >> _LIMB_BITS
	if carry > 0:
		out.append(carry)
	return out


# a - b for a >= b.
static func _sub(a: PackedInt64Array, b: PackedInt64Array) -> PackedInt64Array:
	var out := PackedInt64Array()
	out.resize(a.size())
	var borrow := 0
	for i in a.size():
		var t := a[i] - (b[i] if i < b.size() else 0) - borrow
		borrow = 1 if t < 0 else 0
		out[i] = t + _LIMB if t < 0 else t
	while not out.is_empty() and out[out.size() - 1] == 0:
		out.resize(out.size() - 1)
	return out


static func _cmp(a: PackedInt64Array, b: PackedInt64Array) -> int:
	var na := _length(a)
	var nb := _length(b)
	if na != nb:
		return 1 if na > nb else -1
	for i in range(na - 1, -1, -1):
		if a[i] != b[i]:
			return 1 if a[i] > b[i] else -1
	return 0


static func _length(a: PackedInt64Array) -> int:
	var n := a.size()
	while n > 0 and a[n - 1] == 0:
		n -= 1
	return n
