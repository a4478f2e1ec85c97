/// The OpenAPI 3.1 description served at `/openapi.json`. Hand-written and kept next to the code:
/// ControlTests fails when a registered route is missing here (or a path here is not registered).
enum OpenAPIDocument {
    static let json = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "tollgate-control",
        "version": "0.1.0",
        "description": "Tollgate control plane: OAuth 2.0 / OpenID Connect token service, clients, signing keys, users, roles and audit. Errors on non-OAuth routes are RFC 9457 `application/problem+json`; OAuth endpoints use RFC 6749 error objects. The `admin` scope holds every scope."
      },
      "servers": [{"url": "http://127.0.0.1:7000"}],
      "tags": [{"name": "oauth"}, {"name": "clients"}, {"name": "keys"}, {"name": "users"}, {"name": "operations"}],
      "paths": {
        "/oauth/token": {
          "post": {
            "operationId": "issueToken",
            "tags": ["oauth"],
            "summary": "Issue an access token (OAuth 2.0 token endpoint; client auth, no Bearer scope)",
            "description": "Authenticates the client with HTTP Basic `client_id:client_secret` or the form fields `client_id` and `client_secret`. Errors follow RFC 6749 section 5.2.",
            "security": [{"clientBasic": []}, {}],
            "requestBody": {
              "required": true,
              "content": {
                "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/TokenRequest"}}
              }
            },
            "responses": {
              "200": {
                "description": "Token issued",
                "headers": {"Cache-Control": {"$ref": "#/components/headers/NoStore"}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenResponse"}}}
              },
              "400": {
                "description": "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope or invalid_target",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
              },
              "401": {
                "description": "invalid_client: client authentication failed",
                "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWWAuthenticate"}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
              }
            }
          }
        },
        "/oauth/introspect": {
          "post": {
            "operationId": "introspectToken",
            "tags": ["oauth"],
            "summary": "Introspect a token (RFC 7662; client auth or Bearer auth.introspect)",
            "security": [{"clientBasic": []}, {"bearer": ["auth.introspect"]}, {}],
            "requestBody": {
              "required": true,
              "content": {
                "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/IntrospectionRequest"}}
              }
            },
            "responses": {
              "200": {
                "description": "Introspection result; `{\"active\": false}` for unknown, expired, revoked or deactivated-user tokens",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Introspection"}}}
              },
              "400": {
                "description": "invalid_request: the token parameter is missing",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
              },
              "401": {
                "description": "Client authentication failed (RFC 6749 invalid_client) or the Bearer token is invalid (problem)",
                "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWWAuthenticate"}},
                "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}},
                  "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
              },
              "403": {
                "description": "The Bearer token lacks the auth.introspect scope",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
              }
            }
          },
          "get": {
            "operationId": "introspectTokenQuery",
            "tags": ["oauth"],
            "summary": "Introspect a token given as ?token= (HTTP Basic client auth or Bearer auth.introspect)",
            "security": [{"clientBasic": []}, {"bearer": ["auth.introspect"]}],
            "parameters": [
              {
                "name": "token",
                "in": "query",
                "required": true,
                "description": "The token to introspect",
                "schema": {"type": "string"}
              }
            ],
            "responses": {
              "200": {
                "description": "Introspection result; `{\"active\": false}` for unknown, expired, revoked or deactivated-user tokens",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Introspection"}}}
              },
              "400": {
                "description": "invalid_request: the token parameter is missing",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
              },
              "401": {
                "description": "Client authentication failed (RFC 6749 invalid_client) or the Bearer token is invalid (problem)",
                "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWWAuthenticate"}},
                "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}},
                  "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
              },
              "403": {
                "description": "The Bearer token lacks the auth.introspect scope",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
              }
            }
          }
        },
        "/oauth/revoke": {
          "post": {
            "operationId": "revokeToken",
            "tags": ["oauth"],
            "summary": "Revoke a token (RFC 7009; client auth, no Bearer scope)",
            "security": [{"clientBasic": []}, {}],
            "requestBody": {
              "required": true,
              "content": {
                "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/RevocationRequest"}}
              }
            },
            "responses": {
              "200": {"description": "Revoked, or the token was unknown; the body is empty"},
              "400": {
                "description": "invalid_request, or unauthorized_client when the token was issued to another client",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
              },
              "401": {
                "description": "invalid_client: client authentication failed",
                "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWWAuthenticate"}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
              }
            }
          }
        },
        "/oauth/userinfo": {
          "get": {
            "operationId": "getUserInfo",
            "tags": ["oauth"],
            "summary": "Claims of the user an access token was issued to (Bearer user token, no scope)",
            "security": [{"bearer": []}],
            "responses": {
              "200": {
                "description": "The user's claims",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UserInfo"}}}
              },
              "401": {"$ref": "#/components/responses/Unauthorized"}
            }
          }
        },
        "/.well-known/openid-configuration": {
          "get": {
            "operationId": "getOpenIDConfiguration",
            "tags": ["oauth"],
            "summary": "OpenID Connect discovery document (public, no scope)",
            "security": [],
            "responses": {
              "200": {
                "description": "Discovery document",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenIDConfiguration"}}}
              }
            }
          }
        },
        "/.well-known/jwks.json": {
          "get": {
            "operationId": "getJWKS",
            "tags": ["oauth"],
            "summary": "Public signing keys as a JWK Set (public, no scope)",
            "security": [],
            "responses": {
              "200": {
                "description": "JWK Set of active and still-published keys",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JWKSet"}}}
              }
            }
          }
        },
        "/v1/clients": {
          "post": {
            "operationId": "createClient",
            "summary": "Register an OAuth client (scope admin)",
            "tags": ["clients"],
            "security": [{"bearer": ["admin"]}],
            "requestBody": {
              "required": true,
              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientCreate"}}}
            },
            "responses": {
              "201": {
                "description": "Created; `client_secret` is shown only here",
                "headers": {
                  "Location": {"description": "/v1/clients/{id} of the new client", "schema": {"type": "string"}}
                },
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientWithSecret"}}}
              },
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "409": {"$ref": "#/components/responses/Conflict"},
              "422": {"$ref": "#/components/responses/Unprocessable"}
            }
          },
          "get": {
            "operationId": "listClients",
            "summary": "List OAuth clients (scope admin)",
            "tags": ["clients"],
            "security": [{"bearer": ["admin"]}],
            "parameters": [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Page"}],
            "responses": {
              "200": {
                "description": "One page of clients",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientPage"}}}
              },
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"}
            }
          }
        },
        "/v1/clients/{id}": {
          "parameters": [{"$ref": "#/components/parameters/Id"}],
          "get": {
            "operationId": "getClient",
            "summary": "Get an OAuth client (scope admin)",
            "tags": ["clients"],
            "security": [{"bearer": ["admin"]}],
            "responses": {
              "200": {
                "description": "The client",
                "headers": {"ETag": {"description": "The client's version, for If-Match", "schema": {"type": "string"}}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Client"}}}
              },
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "404": {"$ref": "#/components/responses/NotFound"}
            }
          },
          "delete": {
            "operationId": "deleteClient",
            "summary": "Delete an OAuth client and revoke its tokens (scope admin)",
            "tags": ["clients"],
            "security": [{"bearer": ["admin"]}],
            "parameters": [{"$ref": "#/components/parameters/IfMatch"}],
            "responses": {
              "204": {"description": "Deleted"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "404": {"$ref": "#/components/responses/NotFound"},
              "412": {"$ref": "#/components/responses/PreconditionFailed"}
            }
          }
        },
        "/v1/clients/{id}/rotate-secret": {
          "parameters": [{"$ref": "#/components/parameters/Id"}],
          "post": {
            "operationId": "rotateClientSecret",
            "summary": "Replace a client's secret (scope admin)",
            "tags": ["clients"],
            "security": [{"bearer": ["admin"]}],
            "parameters": [{"$ref": "#/components/parameters/IfMatch"}],
            "responses": {
              "200": {
                "description": "The new secret; shown only here",
                "headers": {"ETag": {"description": "The client's new version", "schema": {"type": "string"}}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientSecret"}}}
              },
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "404": {"$ref": "#/components/responses/NotFound"},
              "412": {"$ref": "#/components/responses/PreconditionFailed"}
            }
          }
        },
        "/v1/keys": {
          "get": {
            "operationId": "listSigningKeys",
            "summary": "List token signing keys (scope admin)",
            "tags": ["keys"],
            "security": [{"bearer": ["admin"]}],
            "parameters": [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Page"}],
            "responses": {
              "200": {
                "description": "All signing keys",
                "content": {
                  "application/json": {
                    "schema": {"$ref": "#/components/schemas/SigningKeyPage"}
                  }
                }
              },
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"}
            }
          }
        },
        "/v1/keys/rotate": {
          "post": {
            "operationId": "rotateSigningKey",
            "summary": "Create a new active signing key and retire the old one (scope admin)",
            "tags": ["keys"],
            "security": [{"bearer": ["admin"]}],
            "responses": {
              "201": {
                "description": "The new active key",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SigningKey"}}}
              },
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"}
            }
          }
        },
        "/v1/users": {
          "post": {
            "operationId": "createUser",
            "summary": "Create a user (scope profile.write)",
            "tags": ["users"],
            "security": [{"bearer": ["profile.write"]}],
            "requestBody": {
              "required": true,
              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UserCreate"}}}
            },
            "responses": {
              "201": {
                "description": "Created",
                "headers": {"Location": {"description": "/v1/users/{id} of the new user", "schema": {"type": "string"}}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}
              },
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "409": {"$ref": "#/components/responses/Conflict"},
              "422": {"$ref": "#/components/responses/Unprocessable"}
            }
          }
        },
        "/v1/users/{id}": {
          "parameters": [{"$ref": "#/components/parameters/Id"}],
          "get": {
            "operationId": "getUser",
            "summary": "Get a user (scope profile.read)",
            "tags": ["users"],
            "security": [{"bearer": ["profile.read"]}],
            "responses": {
              "200": {
                "description": "The user",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}
              },
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "404": {"$ref": "#/components/responses/NotFound"}
            }
          },
          "delete": {
            "operationId": "deactivateUser",
            "summary": "Deactivate a user; their tokens introspect inactive (scope profile.write)",
            "tags": ["users"],
            "security": [{"bearer": ["profile.write"]}],
            "responses": {
              "200": {
                "description": "The user, now with status deactivated",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}
              },
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "404": {"$ref": "#/components/responses/NotFound"}
            }
          }
        },
        "/v1/roles": {
          "get": {
            "operationId": "listRoles",
            "summary": "List roles (scope profile.read)",
            "tags": ["users"],
            "security": [{"bearer": ["profile.read"]}],
            "parameters": [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Page"}],
            "responses": {
              "200": {
                "description": "All roles",
                "content": {
                  "application/json": {
                    "schema": {"$ref": "#/components/schemas/RolePage"}
                  }
                }
              },
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"}
            }
          },
          "post": {
            "operationId": "createRole",
            "summary": "Create a role (scope profile.write)",
            "tags": ["users"],
            "security": [{"bearer": ["profile.write"]}],
            "requestBody": {
              "required": true,
              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RoleCreate"}}}
            },
            "responses": {
              "201": {
                "description": "Created",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Role"}}}
              },
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "409": {"$ref": "#/components/responses/Conflict"},
              "422": {"$ref": "#/components/responses/Unprocessable"}
            }
          }
        },
        "/v1/audit": {
          "get": {
            "operationId": "listAuditEntries",
            "summary": "Search the audit log, newest first (scope audit.read)",
            "tags": ["operations"],
            "security": [{"bearer": ["audit.read"]}],
            "parameters": [
              {
                "name": "resource",
                "in": "query",
                "description": "Only entries for this resource, e.g. `client:web`",
                "schema": {"type": "string"}
              },
              {
                "name": "actor",
                "in": "query",
                "description": "Only entries by this actor (client_id or user id)",
                "schema": {"type": "string"}
              },
              {
                "name": "from",
                "in": "query",
                "description": "Earliest time, inclusive: RFC 3339 date-time or Unix epoch milliseconds",
                "schema": {"type": "string"}
              },
              {
                "name": "to",
                "in": "query",
                "description": "Latest time, inclusive: RFC 3339 date-time or Unix epoch milliseconds",
                "schema": {"type": "string"}
              },
              {"$ref": "#/components/parameters/Limit"},
              {"$ref": "#/components/parameters/Page"}
            ],
            "responses": {
              "200": {
                "description": "One page of audit entries",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditPage"}}}
              },
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"}
            }
          }
        },
        "/healthz": {
          "get": {
            "operationId": "getHealth",
            "tags": ["operations"],
            "summary": "Liveness probe (public, no scope)",
            "security": [],
            "responses": {
              "200": {
                "description": "The process is up",
                "content": {
                  "application/json": {
                    "schema": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
                  }
                }
              }
            }
          }
        },
        "/readyz": {
          "get": {
            "operationId": "getReadiness",
            "tags": ["operations"],
            "summary": "Readiness probe: checks the database (public, no scope)",
            "security": [],
            "responses": {
              "200": {
                "description": "Ready",
                "content": {
                  "application/json": {
                    "schema": {
                      "type": "object",
                      "required": ["status", "database"],
                      "properties": {"status": {"const": "ready"}, "database": {"const": "ok"}}
                    }
                  }
                }
              },
              "503": {
                "description": "The database is unreachable",
                "content": {
                  "application/json": {
                    "schema": {
                      "type": "object",
                      "required": ["status", "database"],
                      "properties": {"status": {"const": "not ready"}, "database": {"const": "unreachable"}}
                    }
                  }
                }
              }
            }
          }
        },
        "/metrics": {
          "get": {
            "operationId": "getMetrics",
            "tags": ["operations"],
            "summary": "Prometheus metrics (public, no scope)",
            "security": [],
            "responses": {
              "200": {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}}
              }
            }
          }
        },
        "/openapi.json": {
          "get": {
            "operationId": "getOpenAPIDocument",
            "tags": ["operations"],
            "summary": "This OpenAPI document (public, no scope)",
            "security": [],
            "responses": {
              "200": {
                "description": "The OpenAPI 3.1 document",
                "content": {"application/json": {"schema": {"type": "object"}}}
              }
            }
          }
        }
      },
      "components": {
        "securitySchemes": {
          "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from /oauth/token; /v1 routes need the scope named in each operation (admin holds every scope)"
          },
          "clientBasic": {
            "type": "http",
            "scheme": "basic",
            "description": "OAuth client authentication: client_id:client_secret"
          }
        },
        "headers": {
          "WWWAuthenticate": {"description": "The authentication challenge", "schema": {"type": "string"}},
          "NoStore": {"description": "Always no-store", "schema": {"type": "string"}}
        },
        "parameters": {
          "IfMatch": {
            "name": "If-Match",
            "in": "header",
            "required": false,
            "description": "The ETag of the version the write is meant for (`\"3\"`) or `*`; another version gets 412",
            "schema": {"type": "string"}
          },
          "Id": {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "Identifier of the resource",
            "schema": {"type": "string"}
          },
          "Limit": {
            "name": "limit",
            "in": "query",
            "description": "Page size",
            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
          },
          "Page": {
            "name": "page",
            "in": "query",
            "description": "Page number, starting at 1",
            "schema": {"type": "integer", "minimum": 1, "default": 1}
          }
        },
        "responses": {
          "BadRequest": {
            "description": "Malformed request: invalid JSON, an unknown field or a bad query parameter",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
          },
          "Unauthorized": {
            "description": "Missing, invalid, expired or revoked Bearer token",
            "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWWAuthenticate"}},
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
          },
          "Forbidden": {
            "description": "The token lacks the scope this operation needs",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
          },
          "NotFound": {
            "description": "No such resource",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
          },
          "Conflict": {
            "description": "The resource already exists",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
          },
          "PreconditionFailed": {
            "description": "If-Match names another version of the resource",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
          },
          "Unprocessable": {
            "description": "The request is well-formed but fails validation",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
          }
        },
        "schemas": {
          "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details (application/problem+json)",
            "required": ["type", "title", "status"],
            "properties": {
              "type": {"type": "string", "format": "uri-reference"},
              "title": {"type": "string"},
              "status": {"type": "integer", "minimum": 400, "maximum": 599},
              "detail": {"type": "string"},
              "request_id": {"type": "string"}
            }
          },
          "OAuthError": {
            "type": "object",
            "description": "RFC 6749 section 5.2 error response",
            "required": ["error"],
            "properties": {
              "error": {
                "type": "string",
                "enum": [
                  "invalid_request",
                  "invalid_client",
                  "invalid_grant",
                  "unauthorized_client",
                  "unsupported_grant_type",
                  "invalid_scope",
                  "invalid_target"
                ]
              },
              "error_description": {"type": "string"}
            }
          },
          "TokenRequest": {
            "type": "object",
            "required": ["grant_type"],
            "properties": {
              "grant_type": {"type": "string", "enum": ["client_credentials", "password", "refresh_token"]},
              "scope": {"type": "string", "description": "Space-separated scopes; defaults to all the client's scopes"},
              "audience": {"type": "string", "description": "Space-separated audiences (resource indicators)"},
              "username": {"type": "string", "description": "password grant: the user's email"},
              "password": {"type": "string", "description": "password grant", "format": "password"},
              "refresh_token": {"type": "string", "description": "refresh_token grant"},
              "client_id": {"type": "string", "description": "Client authentication, when HTTP Basic is not used"},
              "client_secret": {
                "type": "string",
                "format": "password",
                "description": "Client authentication, when HTTP Basic is not used"
              }
            }
          },
          "TokenResponse": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in"],
            "properties": {
              "access_token": {"type": "string"},
              "token_type": {"const": "Bearer"},
              "expires_in": {"type": "integer", "description": "Seconds"},
              "scope": {"type": "string", "description": "Space-separated granted scopes"},
              "refresh_token": {"type": "string", "description": "Only for the password and refresh_token grants"}
            }
          },
          "IntrospectionRequest": {
            "type": "object",
            "required": ["token"],
            "properties": {
              "token": {"type": "string"},
              "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
              "client_id": {"type": "string"},
              "client_secret": {"type": "string", "format": "password"}
            }
          },
          "Introspection": {
            "type": "object",
            "description": "RFC 7662 response; an inactive token yields only `{\"active\": false}`",
            "required": ["active"],
            "properties": {
              "active": {"type": "boolean"},
              "scope": {"type": "string"},
              "client_id": {"type": "string"},
              "sub": {"type": "string"},
              "username": {"type": "string"},
              "exp": {"type": "integer"},
              "iat": {"type": "integer"},
              "iss": {"type": "string"},
              "aud": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
              "token_type": {"type": "string"},
              "jti": {"type": "string"}
            }
          },
          "RevocationRequest": {
            "type": "object",
            "required": ["token"],
            "properties": {
              "token": {"type": "string"},
              "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
              "client_id": {"type": "string"},
              "client_secret": {"type": "string", "format": "password"}
            }
          },
          "UserInfo": {
            "type": "object",
            "required": ["sub"],
            "properties": {
              "sub": {"type": "string"},
              "email": {"type": "string", "format": "email"},
              "name": {"type": ["string", "null"]},
              "roles": {"type": "array", "items": {"type": "string"}}
            }
          },
          "OpenIDConfiguration": {
            "type": "object",
            "required": ["issuer", "jwks_uri", "token_endpoint"],
            "properties": {
              "issuer": {"type": "string"},
              "jwks_uri": {"type": "string"},
              "token_endpoint": {"type": "string"},
              "introspection_endpoint": {"type": "string"},
              "revocation_endpoint": {"type": "string"},
              "userinfo_endpoint": {"type": "string"},
              "grant_types_supported": {"type": "array", "items": {"type": "string"}},
              "scopes_supported": {"type": "array", "items": {"type": "string"}},
              "token_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
              "id_token_signing_alg_values_supported": {"type": "array", "items": {"type": "string"}}
            },
            "additionalProperties": true
          },
          "JWK": {
            "type": "object",
            "required": ["kty", "kid", "use", "alg"],
            "properties": {
              "kty": {"type": "string", "enum": ["EC", "RSA"]},
              "kid": {"type": "string"},
              "use": {"const": "sig"},
              "alg": {"type": "string", "enum": ["ES256", "RS256"]},
              "crv": {"const": "P-256", "description": "EC only"},
              "x": {"type": "string", "description": "EC only"},
              "y": {"type": "string", "description": "EC only"},
              "n": {"type": "string", "description": "RSA only"},
              "e": {"type": "string", "description": "RSA only"}
            }
          },
          "JWKSet": {
            "type": "object",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/JWK"}}}
          },
          "ClientCreate": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": false,
            "properties": {
              "client_id": {
                "type": "string",
                "pattern": "^[A-Za-z0-9._-]{1,64}$",
                "description": "Generated when absent"
              },
              "name": {"type": "string", "minLength": 1},
              "scopes": {"type": "array", "items": {"type": "string"}},
              "grant_types": {
                "type": "array",
                "items": {"type": "string", "enum": ["client_credentials", "password", "refresh_token"]},
                "default": ["client_credentials"]
              },
              "audiences": {"type": "array", "items": {"type": "string"}}
            }
          },
          "Client": {
            "type": "object",
            "required": [
              "client_id",
              "name",
              "scopes",
              "grant_types",
              "audiences",
              "created_at",
              "updated_at",
              "version"
            ],
            "properties": {
              "client_id": {"type": "string"},
              "name": {"type": "string"},
              "scopes": {"type": "array", "items": {"type": "string"}},
              "grant_types": {
                "type": "array",
                "items": {"type": "string", "enum": ["client_credentials", "password", "refresh_token"]}
              },
              "audiences": {"type": "array", "items": {"type": "string"}},
              "created_at": {"type": "string", "format": "date-time"},
              "updated_at": {"type": "string", "format": "date-time"},
              "version": {"type": "integer"}
            }
          },
          "ClientWithSecret": {
            "allOf": [
              {"$ref": "#/components/schemas/Client"},
              {
                "type": "object",
                "required": ["client_secret"],
                "properties": {"client_secret": {"type": "string", "description": "Shown once"}}
              }
            ]
          },
          "ClientSecret": {
            "type": "object",
            "required": ["client_id", "client_secret"],
            "properties": {
              "client_id": {"type": "string"},
              "client_secret": {"type": "string", "description": "Shown once"}
            }
          },
          "SigningKeyPage": {
            "type": "object",
            "required": ["items", "page", "limit", "total"],
            "properties": {
              "items": {"type": "array", "items": {"$ref": "#/components/schemas/SigningKey"}},
              "page": {"type": "integer"},
              "limit": {"type": "integer"},
              "total": {"type": "integer"}
            }
          },
          "RolePage": {
            "type": "object",
            "required": ["items", "page", "limit", "total"],
            "properties": {
              "items": {"type": "array", "items": {"$ref": "#/components/schemas/Role"}},
              "page": {"type": "integer"},
              "limit": {"type": "integer"},
              "total": {"type": "integer"}
            }
          },
          "ClientPage": {
            "type": "object",
            "required": ["items", "page", "limit", "total"],
            "properties": {
              "items": {"type": "array", "items": {"$ref": "#/components/schemas/Client"}},
              "page": {"type": "integer"},
              "limit": {"type": "integer"},
              "total": {"type": "integer"}
            }
          },
          "SigningKey": {
            "type": "object",
            "required": ["kid", "alg", "status", "created_at", "retired_at", "published_until"],
            "properties": {
              "kid": {"type": "string"},
              "alg": {"type": "string", "enum": ["ES256", "RS256"]},
              "status": {"type": "string", "enum": ["active", "retired"]},
              "created_at": {"type": "string", "format": "date-time"},
              "retired_at": {"type": ["string", "null"], "format": "date-time"},
              "published_until": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "A retired key stays in the JWKS until then"
              }
            }
          },
          "UserCreate": {
            "type": "object",
            "required": ["email"],
            "additionalProperties": false,
            "properties": {
              "email": {"type": "string", "format": "email"},
              "password": {"type": "string", "minLength": 8, "format": "password"},
              "display_name": {"type": "string"},
              "attributes": {"type": "object"},
              "roles": {"type": "array", "items": {"type": "string"}}
            }
          },
          "User": {
            "type": "object",
            "required": ["id", "email", "display_name", "attributes", "roles", "status", "created_at", "last_login"],
            "properties": {
              "id": {"type": "string"},
              "email": {"type": "string", "format": "email"},
              "display_name": {"type": ["string", "null"]},
              "attributes": {"type": "object"},
              "roles": {"type": "array", "items": {"type": "string"}},
              "status": {"type": "string", "enum": ["active", "deactivated"]},
              "created_at": {"type": "string", "format": "date-time"},
              "last_login": {"type": ["string", "null"], "format": "date-time"}
            }
          },
          "RoleCreate": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": false,
            "properties": {
              "name": {"type": "string", "minLength": 1},
              "description": {"type": "string"},
              "scopes": {"type": "array", "items": {"type": "string"}}
            }
          },
          "Role": {
            "type": "object",
            "required": ["name", "description", "scopes", "created_at"],
            "properties": {
              "name": {"type": "string"},
              "description": {"type": "string"},
              "scopes": {"type": "array", "items": {"type": "string"}},
              "created_at": {"type": "string", "format": "date-time"}
            }
          },
          "AuditEntry": {
            "type": "object",
            "required": ["id", "time", "actor", "action", "resource", "before", "after", "request_id"],
            "properties": {
              "id": {"type": "integer"},
              "time": {"type": "string", "format": "date-time"},
              "actor": {"type": "string"},
              "action": {"type": "string"},
              "resource": {"type": "string"},
              "before": {"description": "State before the change; any JSON value or null"},
              "after": {"description": "State after the change; any JSON value or null"},
              "request_id": {"type": "string"}
            }
          },
          "AuditPage": {
            "type": "object",
            "required": ["items", "page", "limit", "total"],
            "properties": {
              "items": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
              "page": {"type": "integer"},
              "limit": {"type": "integer"},
              "total": {"type": "integer"}
            }
          }
        }
      }
    }
    """#
}
