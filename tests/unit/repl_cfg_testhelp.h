/* repl_cfg_testhelp.h - replica-set configs from JSON for the unit tests of
 * the config, reconfig, newlyAdded and write-concern rules: documents written
 * with single quotes (easier in C; relaxed extended JSON), parsed for a given
 * purpose, or parsed where a test needs a valid config to start from. */
#ifndef TALLY_REPL_CFG_TESTHELP_H
#define TALLY_REPL_CFG_TESTHELP_H

#include "repl/config.h"
#include "testhelp.h"

#include <bson/bson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json with ' for ", as a new document (bson_destroy it); a test whose JSON
 * does not parse aborts, naming it. */
static inline bson_t *doc_from(const char *json)
{
    char buf[16384];
    bson_error_t error;
    size_t n = strlen(json);
    if (n >= sizeof buf)
        abort();
    for (size_t i = 0; i <= n; i++)
        buf[i] = json[i] == '\'' ? '"' : json[i];
    bson_t *b = bson_new_from_json((const uint8_t *)buf, -1, &error);
    if (b == NULL) {
        fprintf(stderr, "bad test JSON: %s: %s\n", error.message, buf);
        abort();
    }
    return b;
}

/* Parses json as a config for purpose; returns the result code and leaves
 * the message in e (cleared first). */
static inline int parse_config(const char *json, enum repl_config_purpose purpose, struct repl_config *cfg,
                               struct err *e)
{
    bson_t *b = doc_from(json);
    err_clear(e);
    int rc = repl_config_parse(b, purpose, cfg, e);
    bson_destroy(b);
    return rc;
}

/* For a config a test starts from: one that does not parse aborts the test. */
static inline void parse_config_or_die(const char *json, enum repl_config_purpose purpose, struct repl_config *cfg)
{
    struct err e;
    err_init(&e);
    if (parse_config(json, purpose, cfg, &e) != 0) {
        fprintf(stderr, "test config does not parse: %s\n", e.msg);
        abort();
    }
    err_clear(&e);
}

#endif
