/* libFuzzer target: the report parser (ingest/rpt.c) and its JSON output on any bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest/rpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct rpt *r = NULL;
	struct rpt_error e;

	if (!init) {
		rpt_global_init();
		init = 1;
	}
	if (rpt_parse((const char *)data, size, &r, &e) == 0) {
		json_t *j = rpt_to_json(r);

		/* An accepted report must always have a JSON form. */
		if (j == NULL)
			abort();
		json_decref(j);
		rpt_free(r);
	} else if (r != NULL || e.code[0] == '\0') {
		abort(); /* a rejection always says why and hands back nothing */
	}
	return 0;
}
