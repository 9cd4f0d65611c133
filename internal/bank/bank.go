// Package bank names Korean banks by their 3-digit bank code, as NPKI
// subjects do in the OU of the RA bank (cn=…,ou=KB,ou=personal4IB,…).
package bank

var ou = map[string]string{
	"002": "KDB", "003": "IBK", "004": "KB", "007": "Suhyup", "011": "NH", "020": "Woori",
	"023": "SC", "027": "Citi", "031": "DGB", "032": "BNK", "034": "KJB", "035": "JJB",
	"037": "JBB", "039": "KNB", "045": "KFCC", "048": "Shinhyup", "071": "Epost",
	"081": "Hana", "088": "Shinhan", "089": "Kbank", "090": "Kakaobank", "092": "Tossbank",
}

// OU is the subject OU for a bank code; an unlisted code gets "BANK<code>".
func OU(code string) string {
	if n, ok := ou[code]; ok {
		return n
	}
	return "BANK" + code
}
