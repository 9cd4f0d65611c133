// Package kst holds Korea Standard Time, the zone of certificate expiry
// (notAfter is 23:59:59 KST, README.md "Life cycle rules as built") and of the per-day
// operation counts.
package kst

import "time"

// Zone is Korea Standard Time, UTC+9. It is a fixed zone rather than
// time.LoadLocation("Asia/Seoul") because Korea has kept no daylight saving
// since 1988, so the offset never changes, and a fixed zone keeps every
// binary free of a dependency on the machine's tzdata (distroless images and
// containers often ship none).
var Zone = time.FixedZone("KST", 9*60*60)
