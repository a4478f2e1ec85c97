// OpenSSL libcrypto for speed-loop's --direct mode: the calls SignatureVerifier makes, made directly.
#ifndef TOLLGATE_BENCH_OPENSSL_SHIM_H
#define TOLLGATE_BENCH_OPENSSL_SHIM_H

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#endif
