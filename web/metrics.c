/* metrics: Prometheus text at /metrics (see web/route.h). Not there yet: 404. */
#include "web/respond.h"
#include "web/route.h"

enum MHD_Result
metrics_handle(struct web_req *r)
{
	r->status = MHD_HTTP_NOT_FOUND;
	return web_respond_error(r->conn, r->status, "not-found", "no metrics yet");
}
