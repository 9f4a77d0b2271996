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
    {"Problem",
      "{\"type\":\"object\",\"required\":[\"type\",\"title\",\"status\"],\"properties\":{\"type\":{\"type\""
      ":\"string\",\"description\":\"URI reference naming the problem\"},\"title\":{\"type\":\"string\"},\""
      "status\":{\"type\":\"integer\"},\"detail\":{\"type\":\"string\"},\"instance\":{\"type\":\"string\"},"
      "\"errors\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"field\",\"message\"],\""
      "properties\":{\"field\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"}}}}}}"},
    {"TokenPair",
      "{\"type\":\"object\",\"required\":[\"access_token\",\"refresh_token\",\"token_type\",\"expires_in\"]"
      ",\"properties\":{\"access_token\":{\"type\":\"string\"},\"refresh_token\":{\"type\":\"string\"},\"to"
      "ken_type\":{\"const\":\"Bearer\"},\"expires_in\":{\"type\":\"integer\"},\"user\":{\"$ref\":\"#/compo"
      "nents/schemas/User\"}}}"},
    {"MfaChallenge",
      "{\"type\":\"object\",\"required\":[\"mfa_required\",\"mfa_token\",\"expires_in\"],\"properties\":{\""
      "mfa_required\":{\"const\":true},\"mfa_token\":{\"type\":\"string\"},\"expires_in\":{\"type\":\"integ"
      "er\"}}}"},
    {"User",
      "{\"type\":\"object\",\"required\":[\"id\",\"email\",\"role\",\"status\",\"mfa_enabled\",\"version\","
      "\"created_at\",\"updated_at\"],\"properties\":{\"id\":{\"type\":\"string\"},\"email\":{\"type\":\"st"
      "ring\"},\"name\":{\"type\":\"string\"},\"role\":{\"enum\":[\"customer\",\"staff\",\"approver\",\"adm"
      "in\"]},\"status\":{\"enum\":[\"active\",\"disabled\"]},\"mfa_enabled\":{\"type\":\"boolean\"},\"vers"
      "ion\":{\"type\":\"integer\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},\"updated"
      "_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"},
    {"Event",
      "{\"type\":\"object\",\"required\":[\"position\",\"stream\",\"version\",\"type\",\"id\",\"data\",\"at"
      "\"],\"properties\":{\"position\":{\"type\":\"integer\"},\"stream\":{\"type\":\"string\"},\"version\""
      ":{\"type\":\"integer\"},\"type\":{\"type\":\"string\"},\"id\":{\"type\":\"string\"},\"data\":{\"type"
      "\":\"object\"},\"meta\":{\"type\":\"object\"},\"at\":{\"type\":\"string\",\"format\":\"date-time\"}}"
      "}"},
    {"Product",
      "{\"type\":\"object\",\"required\":[\"id\",\"sku\",\"name\",\"price\",\"currency\",\"status\",\"versi"
      "on\",\"created_at\",\"updated_at\"],\"properties\":{\"id\":{\"type\":\"string\"},\"sku\":{\"type\":\""
      "string\"},\"name\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"price\":{\"type\":\""
      "integer\",\"description\":\"minor units\"},\"currency\":{\"type\":\"string\"},\"attributes\":{\"type"
      "\":\"object\"},\"status\":{\"enum\":[\"draft\",\"active\",\"archived\"]},\"category_id\":{\"type\":["
      "\"string\",\"null\"]},\"version\":{\"type\":\"integer\"},\"created_at\":{\"type\":\"string\",\"forma"
      "t\":\"date-time\"},\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"},
    {"Stock",
      "{\"type\":\"object\",\"required\":[\"product_id\",\"on_hand\",\"reserved\",\"available\",\"version\""
      "],\"properties\":{\"product_id\":{\"type\":\"string\"},\"on_hand\":{\"type\":\"integer\"},\"reserved"
      "\":{\"type\":\"integer\"},\"available\":{\"type\":\"integer\"},\"version\":{\"type\":\"integer\"}}}"},
    {"Order",
      "{\"type\":\"object\",\"required\":[\"id\",\"customer_id\",\"status\",\"settled\",\"currency\",\"tota"
      "l\",\"items\",\"version\",\"created_at\",\"updated_at\"],\"properties\":{\"id\":{\"type\":\"string\""
      "},\"customer_id\":{\"type\":\"string\"},\"status\":{\"enum\":[\"pending\",\"paid\",\"fulfilled\",\"s"
      "hipped\",\"delivered\",\"cancelled\",\"refunded\"]},\"settled\":{\"type\":\"boolean\",\"description\""
      ":\"no saga step is in progress\"},\"currency\":{\"type\":\"string\"},\"total\":{\"type\":\"integer\""
      "},\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"product_id\",\"quanti"
      "ty\",\"unit_price\",\"subtotal\"],\"properties\":{\"product_id\":{\"type\":\"string\"},\"sku\":{\"ty"
      "pe\":\"string\"},\"name\":{\"type\":\"string\"},\"unit_price\":{\"type\":\"integer\"},\"quantity\":{"
      "\"type\":\"integer\"},\"subtotal\":{\"type\":\"integer\"}}}},\"payment\":{\"type\":\"object\",\"requ"
      "ired\":[\"id\",\"status\",\"amount\"],\"properties\":{\"id\":{\"type\":\"string\"},\"status\":{\"enu"
      "m\":[\"pending\",\"authorized\",\"captured\",\"failed\",\"voided\",\"partially_refunded\",\"refunded"
      "\"]},\"amount\":{\"type\":\"integer\"},\"captured\":{\"type\":\"integer\"},\"refunded\":{\"type\":\""
      "integer\"},\"card_last4\":{\"type\":\"string\"}}},\"failure_reason\":{\"type\":[\"string\",\"null\"]"
      "},\"version\":{\"type\":\"integer\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},\""
      "updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"},
    {"ServiceRequest",
      "{\"type\":\"object\",\"required\":[\"id\",\"type\",\"title\",\"state\",\"final\",\"workflow\",\"crea"
      "ted_by\",\"version\",\"created_at\",\"updated_at\"],\"properties\":{\"id\":{\"type\":\"string\"},\"t"
      "ype\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},\"data\":{\"type\":\"object\"},\"state\""
      ":{\"type\":\"string\"},\"final\":{\"type\":\"boolean\"},\"workflow\":{\"type\":\"object\",\"required"
      "\":[\"id\",\"version\"],\"properties\":{\"id\":{\"type\":\"string\"},\"version\":{\"type\":\"integer"
      "\"}}},\"available_actions\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"assignee\":{\"typ"
      "e\":[\"object\",\"null\"]},\"created_by\":{\"type\":\"string\"},\"version\":{\"type\":\"integer\"},\""
      "created_at\":{\"type\":\"string\",\"format\":\"date-time\"},\"updated_at\":{\"type\":\"string\",\"fo"
      "rmat\":\"date-time\"},\"approvals\":{\"type\":[\"object\",\"null\"],\"properties\":{\"chain\":{\"typ"
      "e\":\"integer\"},\"pending\":{\"type\":[\"object\",\"null\"]},\"tasks\":{\"type\":\"array\",\"items\""
      ":{\"type\":\"object\"}}}},\"sla\":{\"type\":[\"object\",\"null\"],\"properties\":{\"calendar\":{\"ty"
      "pe\":\"string\"},\"targets\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}}}},\"history\":{\"t"
      "ype\":\"array\",\"items\":{\"type\":\"object\"},\"description\":\"GET /requests/{id} only: the moves"
      " among its last 200 events\"},\"history_truncated\":{\"type\":\"boolean\"}}}"},
    {"Workflow",
      "{\"type\":\"object\",\"required\":[\"id\",\"type\",\"version\",\"name\",\"definition\",\"created_at\""
      "],\"properties\":{\"id\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},\"version\":{\"type\":"
      "\"integer\"},\"name\":{\"type\":\"string\"},\"definition\":{\"type\":\"object\"},\"source\":{\"type\""
      ":\"string\",\"description\":\"as uploaded (reads of one workflow)\"},\"created_by\":{\"type\":\"stri"
      "ng\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"},
    {"Cart",
      "{\"type\":\"object\",\"required\":[\"id\",\"status\",\"items\",\"subtotal\",\"item_count\",\"version"
      "\",\"created_at\",\"updated_at\"],\"properties\":{\"id\":{\"type\":\"string\"},\"status\":{\"enum\":"
      "[\"open\",\"checked_out\",\"merged\"]},\"owner_id\":{\"type\":[\"string\",\"null\"]},\"currency\":{\""
      "type\":[\"string\",\"null\"]},\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"require"
      "d\":[\"product_id\",\"quantity\",\"unit_price\",\"line_total\"],\"properties\":{\"product_id\":{\"ty"
      "pe\":\"string\"},\"sku\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"unit_price\":{\"type"
      "\":\"integer\",\"description\":\"snapshot taken when the line was set\"},\"current_price\":{\"type\""
      ":[\"integer\",\"null\"]},\"quantity\":{\"type\":\"integer\"},\"line_total\":{\"type\":\"integer\"},\""
      "available\":{\"type\":\"boolean\"},\"price_changed\":{\"type\":\"boolean\"}}}},\"subtotal\":{\"type\""
      ":\"integer\"},\"item_count\":{\"type\":\"integer\"},\"needs_review\":{\"type\":\"boolean\"},\"versio"
      "n\":{\"type\":\"integer\"},\"order_id\":{\"type\":[\"string\",\"null\"]},\"merged_into\":{\"type\":["
      "\"string\",\"null\"]},\"token\":{\"type\":\"string\",\"description\":\"guest carts, on creation only"
      "\"},\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},\"updated_at\":{\"type\":\"string\""
      ",\"format\":\"date-time\"}}}"},
    {"Reservation",
      "{\"type\":\"object\",\"required\":[\"id\",\"status\",\"items\",\"created_at\"],\"properties\":{\"id\""
      ":{\"type\":\"string\"},\"owner\":{\"type\":\"string\"},\"status\":{\"enum\":[\"active\",\"released\""
      ",\"expired\",\"committed\"]},\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required"
      "\":[\"product_id\",\"quantity\"],\"properties\":{\"product_id\":{\"type\":\"string\"},\"quantity\":{"
      "\"type\":\"integer\"}}}},\"expires_at\":{\"type\":[\"string\",\"null\"],\"format\":\"date-time\"},\""
      "created_at\":{\"type\":\"string\",\"format\":\"date-time\"}}}"},
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
