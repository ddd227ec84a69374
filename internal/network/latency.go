package network

import (
	"sort"
	"time"
)

// DefaultRTT is the round trip assumed between two regions the table does
// not know: about what separates a US region from a European one.
const DefaultRTT = 100 * time.Millisecond

// rttMillis holds round-trip times between AWS regions, in milliseconds.
// Source: CloudPing (cloudping.co), median (p50) inter-region latency over
// one year, as published in 2025; each figure is the mean of the two
// directions, rounded to the millisecond. Round trips inside one region
// (1–5 ms there) are not modelled: traffic within a region is undelayed.
var rttMillis = map[[2]string]int{
	{"us-east-1", "us-east-2"}: 15, {"us-east-1", "us-west-1"}: 64, {"us-east-1", "us-west-2"}: 64,
	{"us-east-1", "ca-central-1"}: 16, {"us-east-1", "sa-east-1"}: 115, {"us-east-1", "eu-west-1"}: 70,
	{"us-east-1", "eu-west-2"}: 78, {"us-east-1", "eu-west-3"}: 84, {"us-east-1", "eu-central-1"}: 93,
	{"us-east-1", "eu-north-1"}: 112, {"us-east-1", "ap-south-1"}: 191, {"us-east-1", "ap-southeast-1"}: 219,
	{"us-east-1", "ap-southeast-2"}: 200, {"us-east-1", "ap-northeast-1"}: 149, {"us-east-1", "ap-northeast-2"}: 179,

	{"us-east-2", "us-west-1"}: 53, {"us-east-2", "us-west-2"}: 51, {"us-east-2", "ca-central-1"}: 27,
	{"us-east-2", "sa-east-1"}: 125, {"us-east-2", "eu-west-1"}: 80, {"us-east-2", "eu-west-2"}: 88,
	{"us-east-2", "eu-west-3"}: 95, {"us-east-2", "eu-central-1"}: 104, {"us-east-2", "eu-north-1"}: 123,
	{"us-east-2", "ap-south-1"}: 202, {"us-east-2", "ap-southeast-1"}: 203, {"us-east-2", "ap-southeast-2"}: 188,
	{"us-east-2", "ap-northeast-1"}: 135, {"us-east-2", "ap-northeast-2"}: 165,

	{"us-west-1", "us-west-2"}: 22, {"us-west-1", "ca-central-1"}: 80, {"us-west-1", "sa-east-1"}: 175,
	{"us-west-1", "eu-west-1"}: 130, {"us-west-1", "eu-west-2"}: 148, {"us-west-1", "eu-west-3"}: 144,
	{"us-west-1", "eu-central-1"}: 153, {"us-west-1", "eu-north-1"}: 173, {"us-west-1", "ap-south-1"}: 231,
	{"us-west-1", "ap-southeast-1"}: 170, {"us-west-1", "ap-southeast-2"}: 139, {"us-west-1", "ap-northeast-1"}: 108,
	{"us-west-1", "ap-northeast-2"}: 133,

	{"us-west-2", "ca-central-1"}: 61, {"us-west-2", "sa-east-1"}: 175, {"us-west-2", "eu-west-1"}: 118,
	{"us-west-2", "eu-west-2"}: 129, {"us-west-2", "eu-west-3"}: 135, {"us-west-2", "eu-central-1"}: 142,
	{"us-west-2", "eu-north-1"}: 155, {"us-west-2", "ap-south-1"}: 222, {"us-west-2", "ap-southeast-1"}: 161,
	{"us-west-2", "ap-southeast-2"}: 141, {"us-west-2", "ap-northeast-1"}: 98, {"us-west-2", "ap-northeast-2"}: 123,

	{"ca-central-1", "sa-east-1"}: 126, {"ca-central-1", "eu-west-1"}: 69, {"ca-central-1", "eu-west-2"}: 79,
	{"ca-central-1", "eu-west-3"}: 86, {"ca-central-1", "eu-central-1"}: 93, {"ca-central-1", "eu-north-1"}: 106,
	{"ca-central-1", "ap-south-1"}: 192, {"ca-central-1", "ap-southeast-1"}: 215, {"ca-central-1", "ap-southeast-2"}: 198,
	{"ca-central-1", "ap-northeast-1"}: 145, {"ca-central-1", "ap-northeast-2"}: 175,

	{"sa-east-1", "eu-west-1"}: 178, {"sa-east-1", "eu-west-2"}: 187, {"sa-east-1", "eu-west-3"}: 196,
	{"sa-east-1", "eu-central-1"}: 204, {"sa-east-1", "eu-north-1"}: 223, {"sa-east-1", "ap-south-1"}: 301,
	{"sa-east-1", "ap-southeast-1"}: 327, {"sa-east-1", "ap-southeast-2"}: 312, {"sa-east-1", "ap-northeast-1"}: 258,
	{"sa-east-1", "ap-northeast-2"}: 288,

	{"eu-west-1", "eu-west-2"}: 14, {"eu-west-1", "eu-west-3"}: 20, {"eu-west-1", "eu-central-1"}: 27,
	{"eu-west-1", "eu-north-1"}: 41, {"eu-west-1", "ap-south-1"}: 126, {"eu-west-1", "ap-southeast-1"}: 182,
	{"eu-west-1", "ap-southeast-2"}: 256, {"eu-west-1", "ap-northeast-1"}: 201, {"eu-west-1", "ap-northeast-2"}: 232,

	{"eu-west-2", "eu-west-3"}: 11, {"eu-west-2", "eu-central-1"}: 18, {"eu-west-2", "eu-north-1"}: 32,
	{"eu-west-2", "ap-south-1"}: 117, {"eu-west-2", "ap-southeast-1"}: 172, {"eu-west-2", "ap-southeast-2"}: 266,
	{"eu-west-2", "ap-northeast-1"}: 212, {"eu-west-2", "ap-northeast-2"}: 242,

	{"eu-west-3", "eu-central-1"}: 12, {"eu-west-3", "eu-north-1"}: 32, {"eu-west-3", "ap-south-1"}: 109,
	{"eu-west-3", "ap-southeast-1"}: 167, {"eu-west-3", "ap-southeast-2"}: 280, {"eu-west-3", "ap-northeast-1"}: 218,
	{"eu-west-3", "ap-northeast-2"}: 249,

	{"eu-central-1", "eu-north-1"}: 23, {"eu-central-1", "ap-south-1"}: 129, {"eu-central-1", "ap-southeast-1"}: 161,
	{"eu-central-1", "ap-southeast-2"}: 252, {"eu-central-1", "ap-northeast-1"}: 227, {"eu-central-1", "ap-northeast-2"}: 231,

	{"eu-north-1", "ap-south-1"}: 148, {"eu-north-1", "ap-southeast-1"}: 181, {"eu-north-1", "ap-southeast-2"}: 272,
	{"eu-north-1", "ap-northeast-1"}: 247, {"eu-north-1", "ap-northeast-2"}: 250,

	{"ap-south-1", "ap-southeast-1"}: 64, {"ap-south-1", "ap-southeast-2"}: 154, {"ap-south-1", "ap-northeast-1"}: 134,
	{"ap-south-1", "ap-northeast-2"}: 134,

	{"ap-southeast-1", "ap-southeast-2"}: 95, {"ap-southeast-1", "ap-northeast-1"}: 71, {"ap-southeast-1", "ap-northeast-2"}: 74,
	{"ap-southeast-2", "ap-northeast-1"}: 107, {"ap-southeast-2", "ap-northeast-2"}: 145,
	{"ap-northeast-1", "ap-northeast-2"}: 36,
}

// RTT is the measured round trip between two AWS regions, in either order,
// and whether the table knows the pair. The same region gives 0 (true); an
// unknown pair gives DefaultRTT (false).
func RTT(a, b string) (time.Duration, bool) {
	if a == b {
		return 0, true
	}
	if ms, ok := rttMillis[[2]string{a, b}]; ok {
		return time.Duration(ms) * time.Millisecond, true
	}
	if ms, ok := rttMillis[[2]string{b, a}]; ok {
		return time.Duration(ms) * time.Millisecond, true
	}
	return DefaultRTT, false
}

// InterRegion is the distance between regions as shapes: for each pair,
// half the round trip rtt(a, b) each way. Pass RTT for the measured
// figures, or a constant function for a fixed latency; pairs with a zero
// round trip get no shape.
func InterRegion(regions map[string]Domain, rtt func(a, b string) time.Duration) []Shape {
	names := make([]string, 0, len(regions))
	for n := range regions {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Shape
	for i, a := range names {
		for _, b := range names[i+1:] {
			d := rtt(a, b)
			if d <= 0 {
				continue
			}
			other := regions[b]
			out = append(out, Shape{A: regions[a], B: &other, Delay: d / 2})
		}
	}
	return out
}

// MeasuredRTT is RTT without the known flag, for InterRegion.
func MeasuredRTT(a, b string) time.Duration {
	d, _ := RTT(a, b)
	return d
}

// FixedRTT is a round trip of d between every two regions, for InterRegion.
func FixedRTT(d time.Duration) func(a, b string) time.Duration {
	return func(string, string) time.Duration { return d }
}
