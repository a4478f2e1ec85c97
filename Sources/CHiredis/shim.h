// hiredis is used only for its RESP reader and command formatter (see Sources/Core/Redis):
// the sockets are SwiftNIO's. Variadic functions are unavailable in Swift; use the *Argv forms.
#ifndef TOLLGATE_CHIREDIS_SHIM_H
#define TOLLGATE_CHIREDIS_SHIM_H

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#endif
