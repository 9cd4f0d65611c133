package ca

// bankOU is the OU NPKI subjects carry for the RA bank, by Korean bank code.
var bankOU = map[string]string{
	"002": "KDB", "003": "IBK", "004": "KB", "007": "Suhyup", "011": "NH", "020": "Woori",
	"023": "SC", "027": "Citi", "031": "DGB", "032": "BNK", "034": "KJB", "035": "JJB",
	"037": "JBB", "039": "KNB", "045": "KFCC", "048": "Shinhyup", "071": "Epost",
	"081": "Hana", "088": "Shinhan", "089": "Kbank", "090": "Kakaobank", "092": "Tossbank",
}

func bankName(code string) string {
	if n, ok := bankOU[code]; ok {
		return n
	}
	return "BANK" + code
}
