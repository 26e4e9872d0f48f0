/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One call of wx_envelope_parse() on a hostile body of a given shape and
 * size, for t/unit/xml_cost.pl to count its instructions under callgrind:
 *
 *   build/wx_xml_cost SHAPE BYTES
 *
 * Exits 0 whatever the verdict (the verdicts are t/unit/wx_crypto_test's
 * business); prints it, so a run can be read by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "wx_crypto.h"

typedef struct {
    const char *name;
    const char *head, *unit, *tail;
} shape_t;

/* head, then unit repeated until the body is BYTES long, then tail; each
 * '@' in the unit becomes the repetition's number (distinct names and
 * namespace URIs). */
static const shape_t shapes[] = {
    /* The namespace flood of the report, and plain attributes. */
    { "xmlns", "<xml", " xmlns:a@=\"urn:@\"", "><Encrypt>x</Encrypt></xml>" },
    { "attributes", "<xml", " a@=\"b\"", "><Encrypt>x</Encrypt></xml>" },
    /* The CDATA-in-a-PI bypass, with a namespace flood behind it. */
    { "pi-wrapped", "<?a <![CDATA[?><xml><Encrypt>x</Encrypt>",
      "<b xmlns:c@=\"u\"/>", "</xml><?b ]]>?>" },
    { "pi-xmlns", "<?a <![CDATA[?><xml", " xmlns:a@=\"urn:@\"",
      "><Encrypt>x</Encrypt></xml><?b ]]>?>" },
    { "pi", "<xml><?a ", "x", "?><Encrypt>x</Encrypt></xml>" },
    { "comment", "<xml><!--", "x", "--><Encrypt>x</Encrypt></xml>" },
    { "doctype", "<!DOCTYPE xml [", "<!ENTITY a \"b\">", "]><xml/>" },
    { "elements", "<xml>", "<a/>", "<Encrypt>x</Encrypt></xml>" },
    { "depth", "<xml>", "<a>", "" },
    { "lt-flood", "<xml>", "<", "" },
    /* Shapes WeChat does send, at full size: the whole body is parsed. */
    { "cdata", "<xml><Encrypt><![CDATA[", "A", "]]></Encrypt></xml>" },
    { "charrefs", "<xml><Encrypt>", "&#65;", "</Encrypt></xml>" },
    { "text-lines", "<xml><Encrypt>", "A\n", "</Encrypt></xml>" },
    { "json-keys", "{\"Encrypt\":\"x\"", ",\"k@\":1", "}" },
    { "json-string", "{\"Encrypt\":\"", "A", "\"}" },
    { "json-depth", "{\"a\":", "[", "" },
};

int main(int argc, char **argv)
{
    apr_pool_t *pool;
    const shape_t *s = NULL;
    wx_envelope_t env;
    wx_bytes_t enc;
    const char *why = "";
    apr_size_t size, n, i, hl, ul, tl;
    char *body;
    wx_result_t rc;

    if (argc != 3) {
        fprintf(stderr, "usage: %s SHAPE BYTES\n", argv[0]);
        return 2;
    }
    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        if (strcmp(shapes[i].name, argv[1]) == 0) {
            s = &shapes[i];
        }
    }
    if (s == NULL) {
        fprintf(stderr, "%s: no shape %s\n", argv[0], argv[1]);
        return 2;
    }
    size = (apr_size_t)strtoul(argv[2], NULL, 10);
    hl = strlen(s->head);
    ul = strlen(s->unit);
    tl = strlen(s->tail);
    if (size < hl + tl) {
        size = hl + tl;
    }
    apr_initialize();
    apr_pool_create(&pool, NULL);
    body = apr_palloc(pool, size + 1);
    memcpy(body, s->head, hl);
    for (n = hl, i = 0; ; i++) {
        char num[24], unit[128];
        apr_size_t k = 0, j;

        snprintf(num, sizeof(num), "%lu", (unsigned long)i);
        for (j = 0; j < ul && k + sizeof(num) < sizeof(unit); j++) {
            if (s->unit[j] == '@') {
                memcpy(unit + k, num, strlen(num));
                k += strlen(num);
            }
            else {
                unit[k++] = s->unit[j];
            }
        }
        if (n + k > size - tl) {
            break;
        }
        memcpy(body + n, unit, k);
        n += k;
    }
    memcpy(body + n, s->tail, tl);
    n += tl;
    rc = wx_envelope_parse(pool, body, n, &env, &enc, &why);
    printf("%s %lu bytes: %s%s%s\n", s->name, (unsigned long)n,
           wx_result_name(rc), rc == WX_OK ? "" : ": ", rc == WX_OK ? "" : why);
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}
