package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/signet-ca/signet/ca/evidence"
)

// person is what one simulated subscriber types into the dev phone and
// account checks.
type person struct {
	name, birth, phone, carrier, bank, account string
}

// Signet allows one live certificate per subject and profile, and the dev
// provider derives the subject's CI from name and birth alone
// (devprovider.SimulatedCI). So every request needs a (name, birth) pair
// that no earlier run on the same state dir used. The pairs are drawn from
// 60 surnames × 80 × 80 given-name syllables × 22,645 birth dates
// (≈ 8.7e9); a run never repeats a pair, and two runs collide on a pair
// with probability n₁·n₂/8.7e9 (about 0.14% for two runs of 3,500). A
// collision shows as one AlreadyExists error.
var (
	benchSurnames = []string{
		"김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권",
		"황", "안", "송", "류", "전", "홍", "고", "문", "양", "손", "배", "백", "허", "유", "남",
		"심", "노", "하", "곽", "성", "차", "주", "우", "구", "민", "진", "나", "지", "엄", "채",
		"원", "천", "방", "공", "현", "함", "변", "염", "여", "추", "도", "소", "석", "선우", "남궁",
	}
	benchGivenFirst = []string{
		"민", "서", "도", "예", "시", "하", "주", "지", "준", "건", "현", "우", "선", "유", "정", "승",
		"연", "윤", "채", "수", "소", "다", "은", "영", "상", "성", "동", "태", "재", "진", "혜", "미",
		"경", "희", "종", "병", "광", "용", "세", "한", "나", "보", "규", "기", "명", "인", "석", "형",
		"가", "아", "이", "효", "원", "철", "의", "순", "옥", "치", "혁", "창", "대", "범", "찬", "훈",
		"율", "온", "해", "초", "라", "로", "루", "봄", "새", "솔", "단", "호", "산", "휘", "여", "리",
	}
	benchGivenSecond = []string{
		"준", "윤", "우", "호", "후", "원", "진", "현", "재", "서", "연", "은", "아", "린", "빈", "율",
		"희", "숙", "자", "철", "민", "수", "영", "정", "훈", "혁", "석", "규", "식", "미", "경", "지",
		"솔", "람", "별", "결", "환", "태", "성", "찬", "욱", "범", "비", "하", "주", "선", "온", "담",
		"나", "라", "겸", "건", "휘", "교", "오", "덕", "인", "률", "유", "혜", "림", "남", "순", "옥",
		"기", "용", "권", "중", "완", "웅", "한", "균", "모", "목", "란", "향", "애", "섭", "송", "슬",
	}
	// benchBanks are real bank codes (KB, Woori, Shinhan, Hana, NH, IBK, …).
	benchBanks = []string{"004", "020", "088", "081", "011", "003", "023", "027", "031", "032", "034", "039", "045", "071", "089", "090", "092"}
)

var (
	birthFirst = time.Date(1945, 1, 1, 0, 0, 0, 0, time.UTC)
	birthDays  = int(time.Date(2006, 12, 31, 0, 0, 0, 0, time.UTC).Sub(birthFirst).Hours()/24) + 1
)

// newPeople returns n distinct people drawn with r. Each passes the dev
// providers' field checks (evidence.Valid*).
func newPeople(r *rand.Rand, n int) []person {
	seen := make(map[string]bool, n)
	out := make([]person, 0, n)
	for len(out) < n {
		p := person{
			name:    benchSurnames[r.IntN(len(benchSurnames))] + benchGivenFirst[r.IntN(len(benchGivenFirst))] + benchGivenSecond[r.IntN(len(benchGivenSecond))],
			birth:   birthFirst.AddDate(0, 0, r.IntN(birthDays)).Format("20060102"),
			phone:   fmt.Sprintf("010%08d", r.IntN(100_000_000)),
			carrier: evidence.Carriers[r.IntN(len(evidence.Carriers))],
			bank:    benchBanks[r.IntN(len(benchBanks))],
			account: digits(r, 11+r.IntN(4)),
		}
		k := p.name + "|" + p.birth
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	return out
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}
