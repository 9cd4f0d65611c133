package seed

// Static tables the generator draws from. Weights are rough shares of the
// Korean population or market, enough for realistic skew in queries (a
// search for 김민준 returns many rows, one for 피다은 few).

type weighted struct {
	v string
	w float64
}

// surnames: the 40 most common, weights in percent (2015 census, rounded).
var surnames = []weighted{
	{"김", 21.5}, {"이", 14.7}, {"박", 8.4}, {"최", 4.7}, {"정", 4.3}, {"강", 2.4}, {"조", 2.1},
	{"윤", 2.1}, {"장", 2.0}, {"임", 1.7}, {"한", 1.5}, {"오", 1.5}, {"서", 1.4}, {"신", 1.4},
	{"권", 1.4}, {"황", 1.4}, {"안", 1.3}, {"송", 1.3}, {"류", 1.2}, {"전", 1.1}, {"홍", 1.1},
	{"고", 0.9}, {"문", 0.9}, {"양", 0.9}, {"손", 0.9}, {"배", 0.8}, {"백", 0.8}, {"허", 0.6},
	{"유", 0.6}, {"남", 0.5}, {"심", 0.5}, {"노", 0.4}, {"하", 0.4}, {"곽", 0.4}, {"성", 0.4},
	{"차", 0.4}, {"주", 0.4}, {"우", 0.4}, {"구", 0.4}, {"민", 0.3}, {"진", 0.3}, {"나", 0.3},
	{"지", 0.3}, {"엄", 0.3}, {"채", 0.3}, {"원", 0.3}, {"천", 0.2}, {"방", 0.2}, {"공", 0.2},
	{"현", 0.2}, {"함", 0.2}, {"변", 0.2}, {"염", 0.2}, {"여", 0.2}, {"추", 0.2}, {"피", 0.05},
	{"남궁", 0.05}, {"황보", 0.03}, {"제갈", 0.01}, {"선우", 0.01},
}

// popularGiven are given names common across birth cohorts; about a third
// of people get one of these, the rest a syllable combination.
var popularGiven = []string{
	"민준", "서준", "도윤", "예준", "시우", "하준", "주원", "지호", "지후", "준우", "준서", "건우",
	"현우", "우진", "선우", "서진", "민재", "현준", "연우", "유준", "정우", "승우", "승현", "시윤",
	"서연", "서윤", "지우", "서현", "민서", "하은", "하윤", "윤서", "지유", "지민", "채원", "수아",
	"지아", "지윤", "다은", "은서", "예은", "수빈", "소율", "예린", "영수", "영호", "영식", "정숙",
	"영자", "순자", "정희", "미숙", "경숙", "상철", "성호", "성민", "동현", "지훈", "민수", "은지",
	"혜진", "수진", "지영", "미영", "은정", "현정", "지은", "민지", "수연", "유진", "길동", "철수",
	"영희", "재현", "동욱", "태호", "상우", "진우", "혜원", "보람", "슬기", "나래", "하늘", "가을",
}

// syllables for generated given names.
var givenFirst = []string{
	"민", "서", "도", "예", "시", "하", "주", "지", "준", "건", "현", "우", "선", "유", "정", "승",
	"연", "윤", "채", "수", "소", "다", "은", "영", "상", "성", "동", "태", "재", "진", "혜", "미",
	"경", "희", "종", "병", "광", "용", "세", "한", "나", "보", "규", "기", "명", "인", "석", "형",
}

var givenSecond = []string{
	"준", "윤", "우", "호", "후", "원", "진", "현", "재", "서", "연", "은", "아", "린", "빈", "율",
	"희", "숙", "자", "철", "민", "수", "영", "정", "훈", "혁", "석", "규", "식", "미", "경", "지",
	"솔", "람", "별", "결", "환", "태", "성", "찬", "욱", "범", "람", "비", "하", "주", "원", "선",
}

// bank is an RA bank: its code, the OU in NPKI subjects, its market share
// among RA channels, and the gateway hosts that call Signet for it (the
// gRPC peer address that becomes the audit actor).
type bank struct {
	code, ou string
	w        float64
	hosts    [2]string
}

var banks = []bank{
	{"004", "KB", 17, [2]string{"198.51.100.4", "198.51.100.104"}},
	{"088", "Shinhan", 14, [2]string{"198.51.100.88", "198.51.100.188"}},
	{"020", "Woori", 11, [2]string{"198.51.100.20", "198.51.100.120"}},
	{"081", "Hana", 10, [2]string{"198.51.100.81", "198.51.100.181"}},
	{"011", "NH", 12, [2]string{"198.51.100.11", "198.51.100.111"}},
	{"003", "IBK", 7, [2]string{"198.51.100.3", "198.51.100.103"}},
	{"090", "Kakaobank", 9, [2]string{"203.0.113.90", "203.0.113.190"}},
	{"092", "Tossbank", 5, [2]string{"203.0.113.92", "203.0.113.192"}},
	{"089", "Kbank", 3, [2]string{"203.0.113.89", "203.0.113.189"}},
	{"002", "KDB", 1, [2]string{"198.51.100.2", "198.51.100.102"}},
	{"007", "Suhyup", 1.5, [2]string{"198.51.100.7", "198.51.100.107"}},
	{"023", "SC", 2, [2]string{"198.51.100.23", "198.51.100.123"}},
	{"027", "Citi", 1, [2]string{"198.51.100.27", "198.51.100.127"}},
	{"031", "DGB", 2, [2]string{"198.51.100.31", "198.51.100.131"}},
	{"032", "BNK", 2, [2]string{"198.51.100.32", "198.51.100.132"}},
	{"034", "KJB", 0.8, [2]string{"198.51.100.34", "198.51.100.134"}},
	{"035", "JJB", 0.4, [2]string{"198.51.100.35", "198.51.100.135"}},
	{"037", "JBB", 0.8, [2]string{"198.51.100.37", "198.51.100.137"}},
	{"039", "KNB", 1, [2]string{"198.51.100.39", "198.51.100.139"}},
	{"045", "KFCC", 1.5, [2]string{"198.51.100.45", "198.51.100.145"}},
	{"048", "Shinhyup", 0.7, [2]string{"198.51.100.48", "198.51.100.148"}},
	{"071", "Epost", 1, [2]string{"198.51.100.71", "198.51.100.171"}},
}

// profile mirrors ca.DefaultProfiles: the name, the subject OU and the
// share of first certificates.
type profile struct {
	name, ou string
	w        float64
}

var profiles = []profile{
	{"personal-banking", "personal4IB", 78},
	{"personal-general", "personal", 14},
	{"corporate-banking", "corporation4EC", 5},
	{"corporate-general", "corporation", 3},
}

var keyTypes = []weighted{{"rsa2048", 86}, {"ecdsa-p256", 9}, {"rsa3072", 3}, {"ecdsa-p384", 1.5}, {"rsa4096", 0.5}}

// carriers' phone prefixes are all 010 today.
const phonePrefix = "010"

// Staff names behind admin client certificates (adminca.Identity.Actor:
// "<role>:<CN>").
var auditors = []string{"auditor:kim.jiyoung", "auditor:lee.sangwoo", "auditor:park.minji", "auditor:fss.inspector", "auditor:choi.audit"}
var operators = []string{"operator:jung.ops", "operator:han.oncall", "operator:yoon.secops"}

// RFC 5280 reasons a holder or operator gives for a revocation
// (crlreason), with shares.
type revReason struct {
	code int16
	name string
	w    float64
}

var revReasons = []revReason{
	{0, "unspecified", 25}, {1, "keyCompromise", 30}, {3, "affiliationChanged", 15},
	{5, "cessationOfOperation", 30},
}

// refusal is one kind of refused attempt as ca records it: the action, the
// error kind name, the ErrorInfo reason and the message shown to the caller.
type refusal struct {
	action, code, reason, msg string
	// what the event names: the certificate, the subject, or neither
	// (refused before the caller was identified).
	serial, subject bool
	w               float64
}

var refusals = []refusal{
	{"issue", "conflict", "already_active", "you already hold an active certificate: use ReissueCertificate if the key is lost, or RenewCertificate from 30 days before expiry", true, true, 22},
	{"issue", "unauthorized", "evidence_expired", "the phone check result expired: run the identity checks again", false, false, 12},
	{"issue", "unauthorized", "evidence_replayed", "this evidence was already used: run the identity checks again", false, false, 4},
	{"issue", "invalid", "weak_key", "RSA key of 1024 bits is not accepted: generate an RSA 2048, 3072 or 4096-bit key or an ECDSA P-256 key", false, false, 3},
	{"issue", "invalid", "reused_key", "this public key was already certified: generate a new key", false, false, 3},
	{"issue", "forbidden", "evidence_different_person", "the phone and account checks describe different people", false, false, 3},
	{"renew", "precondition", "outside_renewal_window", "renewal opens 30 days before expiry: try again then", true, true, 18},
	{"renew", "unauthorized", "bad_proof", "the key proof does not verify: sign it with the current certificate's key", false, false, 6},
	{"reissue", "precondition", "nothing_to_reissue", "no valid certificate to reissue: issue a new certificate with IssueCertificate", false, true, 5},
	{"revoke", "forbidden", "not_holder", "the evidence is not the holder's", true, false, 4},
	{"suspend", "precondition", "already_suspended", "the certificate is already suspended", true, false, 2},
	{"resume", "precondition", "not_suspended", "the certificate is active, not suspended: there is nothing to resume", true, false, 3},
	{"renew", "precondition", "revoked", "the certificate is revoked; it cannot be renewed", true, false, 2},
}

// adminReads are the auditor calls that name a certificate, with shares.
var adminReads = []weighted{
	{"GetCertificateHistory", 45}, {"SearchCertificates", 40}, {"ListAuditEvents", 15},
}
