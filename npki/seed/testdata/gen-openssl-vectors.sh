#!/bin/sh
# Regenerates openssl-seed-cbc.txt: SEED-CBC vectors made by OpenSSL 3's
# legacy provider, an implementation independent of package seed.
#   sh gen-openssl-vectors.sh > openssl-seed-cbc.txt
# Each case takes key, IV and plaintext from SHA-256 of a label so that the
# inputs are reproducible; -nopad keeps the ciphertext as long as the input.
set -eu
hex() { printf '%s' "$1" | openssl dgst -sha256 -r | cut -c1-"$2"; }
echo "# $(openssl version): openssl enc -seed-cbc -nopad -provider legacy -provider default -K KEY -iv IV"
for n in 1 2 3 4 5 6 7 8; do
	key=$(hex "key $n" 32)
	iv=$(hex "iv $n" 32)
	# n blocks of plaintext: concatenated SHA-256 outputs, cut to n*16 bytes.
	pt=""
	i=0
	while [ ${#pt} -lt $((n * 32)) ]; do
		pt="$pt$(hex "pt $n $i" 64)"
		i=$((i + 1))
	done
	pt=$(printf '%s' "$pt" | cut -c1-$((n * 32)))
	ct=$(printf '%s' "$pt" | xxd -r -p |
		openssl enc -seed-cbc -nopad -provider legacy -provider default -K "$key" -iv "$iv" | xxd -p | tr -d '\n')
	echo "$key $iv $pt $ct"
done
