/* Component schemas and tag descriptions of the OpenAPI document (see
 * openapi.c). Each schema lists in `required` what every answer carries;
 * tests/e2e/test_openapi.py holds real answers to them. */
#include <string.h>

#include "core/json.h"
#include "edge/ops.h"

static const struct {
  const char *name;
  const char *schema;
} k_schemas[] = {
    {"Problem", "{\"type\":\"object\",\"required\":[\"type\",\"title\",\"status\"],\"properties\":{\"type\":{\"type\""
                ":\"string\",\"description\":\"URI reference naming the problem\"},\"title\":{\"type\":\"string\"},\""
                "status\":{\"type\":\"integer\"},\"detail\":{\"type\":\"string\"},\"instance\":{\"type\":\"string\"},"
                "\"errors\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"field\",\"message\"],\""
                "properties\":{\"field\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"},\"line\":{\"type\":"
                "\"integer\",\"description\":\"the line of a submitted document (a workflow definition) where the "
                "field is written\"}}}}}}"},
    {"TokenPair", "{\"type\":\"object\",\"required\":[\"user\",\"access_token\",\"refresh_token\",\"token_type\",\"expi"
                  "res_in\"],\"properties\":{\"access_token\":{\"type\":\"string\"},\"refresh_token\":{\"type\":\"strin"
                  "g\"},\"token_type\":{\"const\":\"Bearer\"},\"expires_in\":{\"type\":\"integer\"},\"user\":{\"$ref\":"
                  "\"#/components/schemas/User\"},\"cart_id\":{\"type\":\"string\",\"description\":\"the guest cart (Ca"
                  "rt-Token) that became the user's at this login\"}}}"},
    {"MfaChallenge",
     "{\"type\":\"object\",\"required\":[\"mfa_required\",\"mfa_token\",\"expires_in\"],\"properties\":{\""
     "mfa_required\":{\"const\":true},\"mfa_token\":{\"type\":\"string\"},\"expires_in\":{\"type\":\"integ"
     "er\"}}}"},
    {"PendingVerification",
     "{\"type\":\"object\",\"required\":[\"user\",\"email_verification_required\"],\"properties\":{\"user\":{\"$"
     "ref\":\"#/components/schemas/User\"},\"email_verification_required\":{\"const\":true}}}"},
    {"User", "{\"type\":\"object\",\"required\":[\"name\",\"id\",\"email\",\"email_verified\",\"role\",\"status\","
             "\"mfa_enabled\",\"v"
             "ersion\",\"created_at\",\"updated_at\"],\"properties\":{\"id\":{\"type\":\"string\"},\"email\":{\"ty"
             "pe\":\"string\"},\"email_verified\":{\"type\":\"boolean\"},\"name\":{\"type\":\"string\"},\"role\":{"
             "\"enum\":[\"customer\",\"staff\",\"approve"
             "r\",\"admin\"]},\"status\":{\"enum\":[\"active\",\"disabled\"]},\"mfa_enabled\":{\"type\":\"boolean\""
             "},\"version\":{\"type\":\"integer\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},\""
             "updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"},
    {"Event", "{\"type\":\"object\",\"required\":[\"meta\",\"position\",\"stream\",\"version\",\"type\",\"id\",\"da"
              "ta\",\"at\"],\"properties\":{\"position\":{\"type\":\"integer\"},\"stream\":{\"type\":\"string\"},\""
              "version\":{\"type\":\"integer\"},\"type\":{\"type\":\"string\"},\"id\":{\"type\":\"string\"},\"data\""
              ":{\"type\":\"object\"},\"meta\":{\"type\":\"object\"},\"at\":{\"type\":\"string\",\"format\":\"date-"
              "time\"}}}"},
    {"Product", "{\"type\":\"object\",\"required\":[\"attributes\",\"category_id\",\"description\",\"id\",\"sku\",\"n"
                "ame\",\"price\",\"currency\",\"status\",\"version\",\"created_at\",\"updated_at\"],\"properties\":{\""
                "id\":{\"type\":\"string\"},\"sku\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"descriptio"
                "n\":{\"type\":\"string\"},\"price\":{\"type\":\"integer\",\"description\":\"minor units\"},\"currenc"
                "y\":{\"type\":\"string\"},\"attributes\":{\"type\":\"object\"},\"status\":{\"enum\":[\"draft\",\"act"
                "ive\",\"archived\"]},\"category_id\":{\"type\":[\"string\",\"null\"]},\"version\":{\"type\":\"intege"
                "r\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},\"updated_at\":{\"type\":\"string"
                "\",\"format\":\"date-time\"}}}"},
    {"Stock", "{\"type\":\"object\",\"required\":[\"product_id\",\"on_hand\",\"reserved\",\"available\",\"version\""
              "],\"properties\":{\"product_id\":{\"type\":\"string\"},\"on_hand\":{\"type\":\"integer\"},\"reserved"
              "\":{\"type\":\"integer\"},\"available\":{\"type\":\"integer\"},\"version\":{\"type\":\"integer\"}}}"},
    {"Order", "{\"type\":\"object\",\"required\":[\"failure_reason\",\"payment\",\"id\",\"customer_id\",\"status\","
              "\"settled\",\"currency\",\"total\",\"items\",\"version\",\"created_at\",\"updated_at\"],\"properties"
              "\":{\"id\":{\"type\":\"string\"},\"customer_id\":{\"type\":\"string\"},\"status\":{\"enum\":[\"pendi"
              "ng\",\"paid\",\"fulfilled\",\"shipped\",\"delivered\",\"cancelled\",\"refunded\"]},\"settled\":{\"ty"
              "pe\":\"boolean\",\"description\":\"no saga step is in progress\"},\"currency\":{\"type\":\"string\"}"
              ",\"total\":{\"type\":\"integer\"},\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"req"
              "uired\":[\"product_id\",\"quantity\",\"unit_price\",\"subtotal\"],\"properties\":{\"product_id\":{\""
              "type\":\"string\"},\"sku\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"unit_price\":{\"ty"
              "pe\":\"integer\"},\"quantity\":{\"type\":\"integer\"},\"subtotal\":{\"type\":\"integer\"}}}},\"payme"
              "nt\":{\"type\":\"object\",\"required\":[\"id\",\"status\",\"amount\"],\"properties\":{\"id\":{\"type"
              "\":\"string\"},\"status\":{\"enum\":[\"pending\",\"authorized\",\"captured\",\"failed\",\"voided\",\""
              "partially_refunded\",\"refunded\"]},\"amount\":{\"type\":\"integer\"},\"captured\":{\"type\":\"integ"
              "er\"},\"refunded\":{\"type\":\"integer\"},\"card_last4\":{\"type\":\"string\"}}},\"failure_reason\":"
              "{\"type\":[\"string\",\"null\"]},\"version\":{\"type\":\"integer\"},\"created_at\":{\"type\":\"strin"
              "g\",\"format\":\"date-time\"},\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"},
    {"ServiceRequest",
     "{\"type\":\"object\",\"required\":[\"assignee\",\"available_actions\",\"data\",\"id\",\"type\",\"tit"
     "le\",\"state\",\"final\",\"workflow\",\"created_by\",\"version\",\"created_at\",\"updated_at\"],\"pr"
     "operties\":{\"id\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},\"title\":{\"type\":\"string"
     "\"},\"data\":{\"type\":\"object\"},\"state\":{\"type\":\"string\"},\"final\":{\"type\":\"boolean\"},"
     "\"workflow\":{\"type\":\"object\",\"required\":[\"id\",\"version\"],\"properties\":{\"id\":{\"type\""
     ":\"string\"},\"version\":{\"type\":\"integer\"}}},\"available_actions\":{\"type\":\"array\",\"items\""
     ":{\"type\":\"string\"}},\"assignee\":{\"type\":[\"object\",\"null\"]},\"created_by\":{\"type\":\"str"
     "ing\"},\"version\":{\"type\":\"integer\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time"
     "\"},\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"},\"approvals\":{\"type\":[\"object\""
     ",\"null\"],\"properties\":{\"chain\":{\"type\":\"integer\"},\"pending\":{\"type\":[\"object\",\"null"
     "\"]},\"tasks\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}}}},\"sla\":{\"type\":[\"object\","
     "\"null\"],\"properties\":{\"calendar\":{\"type\":\"string\"},"
     "\"as_of\":{\"type\":\"string\",\"format\":\"date-time\",\"description\":\"the server's clock when the "
     "view was computed (due_at minus as_of: the time left)\"},\"targets\":{\"type\":\"array\",\"items\":{"
     "\"type\":\"object\",\"required\":[\"name\",\"within\",\"status\",\"breached\",\"elapsed_s\","
     "\"remaining_s\",\"percent\",\"warnings\"],\"properties\":{\"name\":{\"type\":\"string\"},"
     "\"within\":{\"type\":\"string\"},\"status\":{\"enum\":[\"running\",\"paused\",\"stopped\","
     "\"met\",\"breached\"]},\"breached\":{\"type\":\"boolean\"},\"elapsed_s\":{\"type\":\"integer\"},"
     "\"remaining_s\":{\"type\":\"integer\",\"description\":\"business time\"},\"percent\":{\"type\":"
     "\"integer\"},\"due_at\":{\"type\":\"string\",\"format\":\"date-time\",\"description\":\"running "
     "targets: the moment of breach on the calendar\"},\"met_at\":{\"type\":\"string\",\"format\":"
     "\"date-time\"},\"warnings\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}}}}}},"
     "\"history\":{\"type\":\"array\",\"items\":{\"type\":\"object\"},\"description\":\"GET "
     "/requests/{id} only: the moves among its last 200 events\"},\"history_truncated\":{\"type\":\"boolean\"}}}"},
    {"Workflow", "{\"type\":\"object\",\"required\":[\"created_by\",\"id\",\"type\",\"version\",\"name\",\"definition\""
                 ",\"created_at\"],\"properties\":{\"id\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},\"versi"
                 "on\":{\"type\":\"integer\"},\"name\":{\"type\":\"string\"},\"definition\":{\"type\":\"object\"},\"so"
                 "urce\":{\"type\":\"string\",\"description\":\"as uploaded (reads of one workflow)\"},\"created_by\":"
                 "{\"type\":\"string\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"},
    /* a request type of the catalog and its input fields (flow/fields.h): what a form is built from */
    {"RequestField",
     "{\"type\":\"object\",\"required\":[\"name\",\"type\"],\"properties\":{"
     "\"name\":{\"type\":\"string\",\"description\":\"the key in the request's data\"},"
     "\"type\":{\"enum\":[\"string\",\"text\",\"integer\",\"number\",\"boolean\",\"date\",\"email\",\"enum\","
     "\"object\",\"list\"]},"
     "\"required\":{\"type\":\"boolean\"},\"label\":{\"type\":\"string\"},"
     "\"description\":{\"type\":\"string\",\"description\":\"help text\"},"
     "\"default\":{\"description\":\"used when the field is not given; a value of the field's type\"},"
     "\"min\":{\"type\":[\"number\",\"string\"],\"description\":\"integer, number: the least value; date: the first "
     "date (YYYY-MM-DD)\"},"
     "\"max\":{\"type\":[\"number\",\"string\"],\"description\":\"integer, number: the greatest value; date: the last "
     "date\"},"
     "\"min_length\":{\"type\":\"integer\",\"description\":\"string, text: characters\"},"
     "\"max_length\":{\"type\":\"integer\",\"description\":\"string, text: characters\"},"
     "\"pattern\":{\"type\":\"string\",\"description\":\"string, text: a POSIX extended regular expression the whole "
     "value matches\"},"
     "\"options\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"enum: the allowed values\"}}}"},
    {"RequestType",
     "{\"type\":\"object\",\"required\":[\"type\",\"name\",\"version\",\"fields\"],\"properties\":{"
     "\"type\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"description\":{\"type\":[\"string\",\"null\"]},"
     "\"version\":{\"type\":\"integer\"},\"fields\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/"
     "RequestField\"}},"
     "\"unknown_fields\":{\"enum\":[\"accept\",\"reject\"],\"description\":\"reject: data keys that are not fields are "
     "refused (absent: accept, they are kept)\"}}}"},
    {"Cart", "{\"type\":\"object\",\"required\":[\"currency\",\"merged_into\",\"needs_review\",\"order_id\",\"owne"
             "r_id\",\"id\",\"status\",\"items\",\"subtotal\",\"item_count\",\"version\",\"created_at\",\"updated_"
             "at\"],\"properties\":{\"id\":{\"type\":\"string\"},\"status\":{\"enum\":[\"open\",\"checked_out\",\""
             "merged\"]},\"owner_id\":{\"type\":[\"string\",\"null\"]},\"currency\":{\"type\":[\"string\",\"null\""
             "]},\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"product_id\",\"quant"
             "ity\",\"unit_price\",\"line_total\"],\"properties\":{\"product_id\":{\"type\":\"string\"},\"sku\":{\""
             "type\":\"string\"},\"name\":{\"type\":\"string\"},\"unit_price\":{\"type\":\"integer\",\"description"
             "\":\"snapshot taken when the line was set\"},\"current_price\":{\"type\":[\"integer\",\"null\"]},\"q"
             "uantity\":{\"type\":\"integer\"},\"line_total\":{\"type\":\"integer\"},\"available\":{\"type\":\"boo"
             "lean\"},\"price_changed\":{\"type\":\"boolean\"}}}},\"subtotal\":{\"type\":\"integer\"},\"item_count"
             "\":{\"type\":\"integer\"},\"needs_review\":{\"type\":\"boolean\"},\"version\":{\"type\":\"integer\"}"
             ",\"order_id\":{\"type\":[\"string\",\"null\"]},\"merged_into\":{\"type\":[\"string\",\"null\"]},\"to"
             "ken\":{\"type\":\"string\",\"description\":\"guest carts, on creation only\"},\"created_at\":{\"type"
             "\":\"string\",\"format\":\"date-time\"},\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\""
             "}}}"},
    {"Reservation",
     "{\"type\":\"object\",\"required\":[\"expires_at\",\"owner\",\"id\",\"status\",\"items\",\"created_at"
     "\"],\"properties\":{\"id\":{\"type\":\"string\"},\"owner\":{\"type\":\"string\"},\"status\":{\"enum\""
     ":[\"active\",\"released\",\"expired\",\"committed\"]},\"items\":{\"type\":\"array\",\"items\":{\"typ"
     "e\":\"object\",\"required\":[\"product_id\",\"quantity\"],\"properties\":{\"product_id\":{\"type\":\""
     "string\"},\"quantity\":{\"type\":\"integer\"}}}},\"expires_at\":{\"type\":[\"string\",\"null\"],\"fo"
     "rmat\":\"date-time\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"},
};

json_t *sf_openapi_schemas(void) {
  json_t *out = json_object();
  for (size_t i = 0; i < sizeof k_schemas / sizeof k_schemas[0]; i++) {
    json_t *s = json_loads(k_schemas[i].schema, 0, NULL);
    json_object_set_new(out, k_schemas[i].name, s ? s : json_object());
  }
  return out;
}

static const struct {
  const char *tag;
  const char *text;
} k_tags[] = {
    {"ops", "Probes, metrics and this document"},
    {"auth", "Sessions: register, log in (with TOTP MFA), refresh, log out"},
    {"users", "Profiles and user administration"},
    {"catalog", "Products and categories"},
    {"inventory", "Stock and reservations"},
    {"carts", "Carts for guests and customers, and checkout"},
    {"orders", "Orders, their payment saga, fulfilment and refunds"},
    {"workflows", "Versioned workflow definitions of service requests"},
    {"requests", "Service requests: transitions, approvals, comments, SLAs"},
};

const char *sf_openapi_tag_text(const char *tag) {
  for (size_t i = 0; i < sizeof k_tags / sizeof k_tags[0]; i++)
    if (strcmp(k_tags[i].tag, tag) == 0) return k_tags[i].text;
  return tag;
}
