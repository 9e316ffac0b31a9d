// The admin panel (spec 8.1.6, 8.2.2, 8.3.1-8.3.5): a web UI over the admin API, served by
// `crmsync serve` at /admin/ from files compiled into the binary.
#ifndef CRMSYNC_CORE_PANEL_PANEL_H
#define CRMSYNC_CORE_PANEL_PANEL_H

#include "server/server.h"

namespace crmsync::panel {

// Adds GET /admin (redirect to /admin/), GET /admin/ (index.html) and GET /admin/{file}: each
// with its Content-Type, Cache-Control: no-cache, an ETag (304 on If-None-Match), a strict
// Content-Security-Policy (no framing: frame-ancestors 'none', X-Frame-Options: DENY; no <base>)
// and X-Content-Type-Options: nosniff; an unknown file is 404.
void add_routes(server::Router& router);

}  // namespace crmsync::panel

#endif  // CRMSYNC_CORE_PANEL_PANEL_H
