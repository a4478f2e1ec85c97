// The part of OpenSSL 3 libcrypto that Tollgate uses. Only Sources/Core/Crypto touches these
// declarations; no OpenSSL pointer escapes the Swift wrappers there.
#ifndef TOLLGATE_COPENSSL_SHIM_H
#define TOLLGATE_COPENSSL_SHIM_H

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#endif
