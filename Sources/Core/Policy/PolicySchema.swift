// The JSON Schemas (2020-12) of policy files and policy test files, as `tollgate-proxy schema` prints
// them. The repository keeps the same texts under schema/ for editors (a test keeps them equal);
// change both.

/// The JSON Schema of one policy file: every structural rule of spec/policy.md. What a schema cannot
/// say (references between names, regex compilation, key files, rules across files) is the
/// validator's (`PolicyLoader`).
public enum PolicySchema {
    /// Where the repository keeps it, relative to the repository root.
    public static let repositoryPath = "schema/policy-v1.schema.json"

    public static let json = #"""
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "$id": "urn:tollgate:schema:policy:v1",
          "title": "Tollgate policy file, version 1",
          "description": "One YAML document of a Tollgate policy directory (spec/policy.md). The schema holds every rule a single file can break on its own; references between names, regex compilation, key files and cross-file checks are `tollgate-proxy validate`'s.",
          "type": "object",
          "additionalProperties": false,
          "required": ["version"],
          "properties": {
            "version": { "const": 1, "description": "The format's version: 1." },
            "service": { "$ref": "#/$defs/name", "description": "Label of the service; files that set it must agree." },
            "issuers": {
              "type": "object",
              "description": "Who may sign tokens, by name.",
              "propertyNames": { "$ref": "#/$defs/name" },
              "additionalProperties": { "$ref": "#/$defs/issuer" }
            },
            "limits": {
              "type": "object",
              "description": "Token buckets, by name.",
              "propertyNames": { "$ref": "#/$defs/name" },
              "additionalProperties": { "$ref": "#/$defs/limit" }
            },
            "flags": {
              "type": "object",
              "description": "Static flag defaults; the control plane's flag of the same name wins.",
              "propertyNames": { "$ref": "#/$defs/name" },
              "additionalProperties": { "$ref": "#/$defs/flag" }
            },
            "routes": {
              "type": "array",
              "description": "Tried in file order, then in order within a file; the first match wins.",
              "items": { "$ref": "#/$defs/route" }
            }
          },
          "$defs": {
            "name": {
              "type": "string",
              "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
              "description": "Letters, digits, '.', '_' and '-', starting with a letter or digit (at most 128)."
            },
            "nonEmptyString": { "type": "string", "minLength": 1 },
            "duration": {
              "type": "string",
              "pattern": "^[0-9]{1,9}(ms|s|m|h)$",
              "description": "A whole number and one unit: 250ms, 30s, 5m, 1h."
            },
            "rate": {
              "type": "string",
              "pattern": "^([1-9][0-9]{0,8}|1000000000)/[smhd]$",
              "description": "N/s, N/m, N/h or N/d with N from 1 to 1000000000."
            },
            "tokens": { "type": "integer", "minimum": 1, "maximum": 1000000000 },
            "headerName": { "type": "string", "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" },
            "pathText": {
              "type": "string",
              "description": "A normalized absolute path: no query, no '.' or '..' segments, no percent-encoded unreserved characters.",
              "pattern": "^/(?!.*/\\.\\.?(/|$))(?!.*%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE]))[^?]*$"
            },
            "mode": {
              "enum": ["enforce", "shadow"],
              "description": "shadow: the gates decide, count and log, but never refuse (default enforce)."
            },
            "algorithm": {
              "enum": ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
            },
            "issuer": {
              "type": "object",
              "additionalProperties": false,
              "required": ["issuer"],
              "properties": {
                "issuer": { "$ref": "#/$defs/nonEmptyString", "description": "Exact match with the token's iss." },
                "jwks_url": { "type": "string", "pattern": "^[hH][tT][tT][pP][sS]?://[^/?#]+", "description": "An absolute http:// or https:// URL of a JWKS." },
                "keys": {
                  "type": "array", "minItems": 1, "items": { "$ref": "#/$defs/nonEmptyString" },
                  "description": "PEM public keys or JWKS files (.json), relative to the policy directory."
                },
                "secret_env": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "Environment variable holding an HMAC secret." },
                "audiences": { "type": "array", "items": { "type": "string" } },
                "algorithms": { "type": "array", "minItems": 1, "uniqueItems": true, "items": { "$ref": "#/$defs/algorithm" } },
                "clock_skew": { "$ref": "#/$defs/duration" },
                "refresh": {
                  "type": "string",
                  "pattern": "^(0{0,8}[1-9][0-9]{0,8}(s|m|h)|0{0,5}[1-9][0-9]{3,8}ms)$",
                  "description": "JWKS refresh period (at least 1s; jwks_url issuers only)."
                }
              },
              "oneOf": [
                { "required": ["jwks_url"], "not": { "anyOf": [{ "required": ["keys"] }, { "required": ["secret_env"] }] } },
                { "required": ["keys"], "not": { "anyOf": [{ "required": ["jwks_url"] }, { "required": ["secret_env"] }] } },
                { "required": ["secret_env"], "not": { "anyOf": [{ "required": ["jwks_url"] }, { "required": ["keys"] }] } }
              ],
              "dependentRequired": { "refresh": ["jwks_url"] },
              "if": { "required": ["secret_env"] },
              "then": { "properties": { "algorithms": { "items": { "enum": ["HS256", "HS384", "HS512"] } } } },
              "else": { "properties": { "algorithms": { "items": { "not": { "enum": ["HS256", "HS384", "HS512"] } } } } }
            },
            "keyPart": {
              "type": "string",
              "pattern": "^(ip|route|method|subject|claim:.+|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$",
              "description": "ip, route, method, subject, claim:NAME or header:NAME."
            },
            "limit": {
              "type": "object",
              "additionalProperties": false,
              "required": ["rate", "key"],
              "properties": {
                "rate": { "$ref": "#/$defs/rate" },
                "burst": { "$ref": "#/$defs/tokens", "description": "Bucket capacity (default: the rate's number)." },
                "key": { "type": "array", "minItems": 1, "uniqueItems": true, "items": { "$ref": "#/$defs/keyPart" } },
                "cost": { "$ref": "#/$defs/tokens", "description": "Tokens one request takes (default 1; at most burst)." },
                "on_error": { "enum": ["allow", "deny"], "description": "Store unreachable or too slow: allow (default) or deny (503)." },
                "local": { "type": "boolean", "description": "true: this process only, never Redis." },
                "mode": { "$ref": "#/$defs/mode" }
              }
            },
            "flag": {
              "type": "object",
              "additionalProperties": false,
              "required": ["enabled"],
              "properties": {
                "enabled": { "type": "boolean" },
                "rollout": { "type": "integer", "minimum": 0, "maximum": 100 }
              }
            },
            "claimValue": { "type": ["string", "integer", "boolean"] },
            "match": {
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "path": { "$ref": "#/$defs/pathText", "description": "The whole normalized path." },
                "prefix": { "$ref": "#/$defs/pathText", "description": "Segment-aware path prefix." },
                "regex": { "$ref": "#/$defs/nonEmptyString", "description": "PCRE2 pattern searched in the normalized path." },
                "methods": {
                  "type": "array", "minItems": 1, "uniqueItems": true,
                  "items": { "type": "string", "pattern": "^[!#$%&'*+.^_`|~0-9A-Z-]+$" }
                },
                "host": { "type": "string", "pattern": "^(\\*\\.)?[A-Za-z0-9.:\\[\\]-]+$" },
                "headers": {
                  "type": "object",
                  "propertyNames": { "$ref": "#/$defs/headerName" },
                  "additionalProperties": { "type": "string" }
                }
              },
              "oneOf": [
                { "required": ["path"], "not": { "anyOf": [{ "required": ["prefix"] }, { "required": ["regex"] }] } },
                { "required": ["prefix"], "not": { "anyOf": [{ "required": ["path"] }, { "required": ["regex"] }] } },
                { "required": ["regex"], "not": { "anyOf": [{ "required": ["path"] }, { "required": ["prefix"] }] } }
              ]
            },
            "auth": {
              "oneOf": [
                { "const": "none" },
                {
                  "type": "object",
                  "additionalProperties": false,
                  "required": ["issuers"],
                  "properties": {
                    "issuers": { "type": "array", "minItems": 1, "uniqueItems": true, "items": { "type": "string", "minLength": 1 } },
                    "scopes": { "type": "array", "items": { "type": "string" } },
                    "claims": {
                      "type": "object",
                      "additionalProperties": { "type": "array", "minItems": 1, "items": { "$ref": "#/$defs/claimValue" } }
                    },
                    "optional": { "type": "boolean" }
                  }
                }
              ]
            },
            "reservedHeader": {
              "description": "Headers the sidecar manages itself (any letter case): host, content-length, transfer-encoding, connection, keep-alive, te, trailer, upgrade, proxy-authorization, proxy-authenticate, proxy-connection, authorization, cookie, x-forwarded-for, x-forwarded-proto, x-forwarded-host, x-request-id, traceparent, tracestate.",
              "type": "string",
              "pattern": "^([hH][oO][sS][tT]|[cC][oO][nN][tT][eE][nN][tT]\\-[lL][eE][nN][gG][tT][hH]|[tT][rR][aA][nN][sS][fF][eE][rR]\\-[eE][nN][cC][oO][dD][iI][nN][gG]|[cC][oO][nN][nN][eE][cC][tT][iI][oO][nN]|[kK][eE][eE][pP]\\-[aA][lL][iI][vV][eE]|[tT][eE]|[tT][rR][aA][iI][lL][eE][rR]|[uU][pP][gG][rR][aA][dD][eE]|[pP][rR][oO][xX][yY]\\-[aA][uU][tT][hH][oO][rR][iI][zZ][aA][tT][iI][oO][nN]|[pP][rR][oO][xX][yY]\\-[aA][uU][tT][hH][eE][nN][tT][iI][cC][aA][tT][eE]|[pP][rR][oO][xX][yY]\\-[cC][oO][nN][nN][eE][cC][tT][iI][oO][nN]|[aA][uU][tT][hH][oO][rR][iI][zZ][aA][tT][iI][oO][nN]|[cC][oO][oO][kK][iI][eE]|[xX]\\-[fF][oO][rR][wW][aA][rR][dD][eE][dD]\\-[fF][oO][rR]|[xX]\\-[fF][oO][rR][wW][aA][rR][dD][eE][dD]\\-[pP][rR][oO][tT][oO]|[xX]\\-[fF][oO][rR][wW][aA][rR][dD][eE][dD]\\-[hH][oO][sS][tT]|[xX]\\-[rR][eE][qQ][uU][eE][sS][tT]\\-[iI][dD]|[tT][rR][aA][cC][eE][pP][aA][rR][eE][nN][tT]|[tT][rR][aA][cC][eE][sS][tT][aA][tT][eE])$"
            },
            "route": {
              "type": "object",
              "additionalProperties": false,
              "required": ["name", "match", "auth"],
              "properties": {
                "name": { "$ref": "#/$defs/name" },
                "match": { "$ref": "#/$defs/match" },
                "auth": { "$ref": "#/$defs/auth" },
                "flag": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": ["name"],
                  "properties": {
                    "name": { "$ref": "#/$defs/nonEmptyString" },
                    "deny_status": { "type": "integer", "minimum": 400, "maximum": 599 }
                  }
                },
                "limits": { "type": "array", "uniqueItems": true, "items": { "type": "string" } },
                "forward": {
                  "type": "object",
                  "additionalProperties": false,
                  "properties": {
                    "claims": {
                      "type": "object",
                      "description": "claim -> request header sent upstream (incoming headers of those names are always removed).",
                      "additionalProperties": {
                        "allOf": [{ "$ref": "#/$defs/headerName" }, { "not": { "$ref": "#/$defs/reservedHeader" } }]
                      }
                    },
                    "strip_authorization": { "type": "boolean" }
                  }
                },
                "mode": { "$ref": "#/$defs/mode" }
              },
              "if": { "required": ["auth"], "properties": { "auth": { "const": "none" } } },
              "then": { "properties": { "forward": { "properties": { "claims": { "maxProperties": 0 } } } } }
            }
          }
        }

        """#

    /// The schema of a `tollgate-proxy test` file (names are checked against the policy set by the runner).
    public static let testFileRepositoryPath = "schema/policy-test-v1.schema.json"

    public static let testFileJSON = #"""
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "$id": "urn:tollgate:schema:policy-test:v1",
          "title": "Tollgate policy test file, version 1",
          "description": "One `tollgate-proxy test` file (spec/policy.md \"Policy tests\"). Names of issuers, routes, limits and flags are checked against the policy set by the runner.",
          "type": "object",
          "additionalProperties": false,
          "required": ["version", "cases"],
          "properties": {
            "version": { "const": 1 },
            "tokens": {
              "type": "object",
              "description": "Test tokens by name: the issuer's policy name and the claims (the runner signs them).",
              "additionalProperties": {
                "type": "object",
                "additionalProperties": false,
                "required": ["issuer"],
                "properties": {
                  "issuer": { "type": "string", "minLength": 1 },
                  "claims": { "type": "object", "description": "iss, exp and aud are filled in when left out." }
                }
              }
            },
            "flags": {
              "type": "object",
              "description": "Flag states for this file, in place of the policy's defaults.",
              "additionalProperties": {
                "type": "object",
                "additionalProperties": false,
                "required": ["enabled"],
                "properties": {
                  "enabled": { "type": "boolean" },
                  "rollout": { "type": "integer", "minimum": 0, "maximum": 100 }
                }
              }
            },
            "cases": { "type": "array", "minItems": 1, "items": { "$ref": "#/$defs/case" } }
          },
          "$defs": {
            "case": {
              "type": "object",
              "additionalProperties": false,
              "required": ["name", "request", "expect"],
              "properties": {
                "name": { "type": "string", "minLength": 1 },
                "request": { "$ref": "#/$defs/request" },
                "expect": {
                  "allOf": [{ "$ref": "#/$defs/expectation" }],
                  "properties": { "last": { "allOf": [{ "$ref": "#/$defs/expectation" }], "not": { "required": ["last"] } } },
                  "minProperties": 1
                }
              }
            },
            "request": {
              "type": "object",
              "additionalProperties": false,
              "required": ["path"],
              "properties": {
                "method": { "type": "string", "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", "description": "Default GET." },
                "path": { "type": "string", "pattern": "^/[^\\u0000-\\u0020\\u007f]*$", "description": "Path and query." },
                "host": { "type": "string", "minLength": 1, "description": "Default localhost." },
                "headers": { "type": "object", "additionalProperties": { "type": ["string", "integer", "number"] } },
                "token": { "type": "string", "minLength": 1, "description": "A name of tokens." },
                "ip": { "type": "string", "minLength": 1, "description": "The client address (default 192.0.2.10)." },
                "repeat": { "type": "integer", "minimum": 1, "maximum": 100000 },
                "every": { "type": "string", "pattern": "^[0-9]{1,9}(ms|s|m|h)$" }
              }
            },
            "headerExpectations": {
              "type": "object",
              "description": "name -> value; null: the header must be absent.",
              "additionalProperties": { "type": ["string", "integer", "number", "null"] }
            },
            "expectation": {
              "type": "object",
              "properties": {
                "status": { "oneOf": [{ "const": "forward" }, { "type": "integer", "minimum": 100, "maximum": 599 }] },
                "route": { "type": ["string", "null"], "description": "null: no route may match." },
                "reason": { "type": "string", "minLength": 1 },
                "limit": { "type": "string", "minLength": 1 },
                "upstream_headers": { "$ref": "#/$defs/headerExpectations" },
                "headers": { "$ref": "#/$defs/headerExpectations" },
                "last": true
              },
              "additionalProperties": false
            }
          }
        }

        """#
}
