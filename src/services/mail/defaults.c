/* The default template of every kind mail.h lists: what a message says
 * until an admin stores another text (PUT /api/v1/mail/templates/{kind}).
 * The variables each kind reads are listed in mail.h; every template also
 * sees app.name, app.url, to.name and to.address. */
#include <string.h>

#include "services/mail/internal.h"

#define GREETING "Hello{{#if to.name}} {{to.name}}{{/if}},\n\n"
#define SIGNATURE "\n\n-- \n{{app.name}}\n{{app.url}}\n"
#define TEXT(body) GREETING body SIGNATURE

#define HTML_HEAD                                                                                                      \
  "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{{app.name}}</title></head>\n"                          \
  "<body style=\"font-family:Helvetica,Arial,sans-serif;line-height:1.5;color:#222;max-width:600px\">\n"               \
  "<p>Hello{{#if to.name}} {{to.name}}{{/if}},</p>\n"
#define HTML_TAIL                                                                                                      \
  "\n<hr style=\"border:none;border-top:1px solid #ddd\">\n"                                                           \
  "<p style=\"color:#888;font-size:12px\">{{app.name}} &middot; <a href=\"{{app.url}}\">{{app.url}}</a></p>\n"         \
  "</body></html>\n"
#define HTML(body) HTML_HEAD body HTML_TAIL
#define BUTTON(href, label)                                                                                            \
  "<p><a href=\"" href "\" style=\"display:inline-block;padding:8px 16px;background:#2457c5;color:#fff;"               \
  "text-decoration:none;border-radius:4px\">" label "</a></p>\n"

#define REQ_LINK "{{app.url}}/requests/{{request.id}}"
#define ORDER_LINK "{{app.url}}/orders/{{order.id}}"
#define ORDER_TOTAL "{{order.total}}{{#if order.currency}} {{order.currency}}{{/if}}"

typedef struct tpl_default {
  const char *kind, *subject, *text, *html;
} tpl_default;

static const tpl_default k_defaults[] = {
    {"request.notify", "[{{app.name}}] {{#if subject}}{{subject}}{{else}}{{request.title}}{{/if}}",
     TEXT(
         "{{#if message}}{{message}}\n\n{{/if}}Request: {{request.title}} ({{request.type}}){{#if request.state}}, now "
         "{{request.state}}{{/if}}\n\nOpen it: " REQ_LINK),
     HTML("{{#if message}}<p>{{message}}</p>\n{{/if}}<p>Request: <strong>{{request.title}}</strong> "
          "({{request.type}}){{#if request.state}}, now <em>{{request.state}}</em>{{/if}}</p>\n" BUTTON(
              REQ_LINK, "Open the request"))},
    {"approval.requested", "[{{app.name}}] Approval needed: {{request.title}}",
     TEXT("A request waits for your approval{{#if level}} (level {{level}}){{/if}}.\n\n"
          "Request: {{request.title}}\nType: {{request.type}}\n{{#if requester.name}}Requested by: "
          "{{requester.name}}\n{{/if}}\nApprove or reject it here: " REQ_LINK),
     HTML("<p>A request waits for your approval{{#if level}} (level {{level}}){{/if}}.</p>\n"
          "<p>Request: <strong>{{request.title}}</strong><br>Type: {{request.type}}{{#if requester.name}}<br>"
          "Requested by: {{requester.name}}{{/if}}</p>\n" BUTTON(REQ_LINK, "Review the request"))},
    {"approval.decided", "[{{app.name}}] Your request was {{decision}}: {{request.title}}",
     TEXT("Your request \"{{request.title}}\" was {{decision}}{{#if by.name}} by {{by.name}}{{/if}}.\n"
          "{{#if comment}}\nComment: {{comment}}\n{{/if}}\nSee it here: " REQ_LINK),
     HTML("<p>Your request <strong>{{request.title}}</strong> was <strong>{{decision}}</strong>{{#if by.name}} by "
          "{{by.name}}{{/if}}.</p>\n{{#if comment}}<blockquote>{{comment}}</blockquote>\n{{/if}}" BUTTON(
              REQ_LINK, "See the request"))},
    {"sla.warning", "[{{app.name}}] Due soon: {{request.title}}",
     TEXT("The request \"{{request.title}}\" ({{request.type}}) is due {{#if due_at}}at {{due_at}}{{else}}soon{{/if}}"
          "{{#if sla.name}} ({{sla.name}}){{/if}} and is still {{request.state}}.\n\nOpen it: " REQ_LINK),
     HTML("<p>The request <strong>{{request.title}}</strong> ({{request.type}}) is due {{#if due_at}}at "
          "{{due_at}}{{else}}soon{{/if}}{{#if sla.name}} ({{sla.name}}){{/if}} and is still "
          "<em>{{request.state}}</em>.</p>\n" BUTTON(REQ_LINK, "Open the request"))},
    {"sla.breached", "[{{app.name}}] Overdue: {{request.title}}",
     TEXT("The request \"{{request.title}}\" ({{request.type}}) missed its deadline{{#if due_at}} of "
          "{{due_at}}{{/if}}{{#if sla.name}} ({{sla.name}}){{/if}}; it is {{request.state}}.\n\nOpen it: " REQ_LINK),
     HTML("<p>The request <strong>{{request.title}}</strong> ({{request.type}}) missed its deadline{{#if due_at}} of "
          "{{due_at}}{{/if}}{{#if sla.name}} ({{sla.name}}){{/if}}; it is <em>{{request.state}}</em>.</p>\n" BUTTON(
              REQ_LINK, "Open the request"))},
    {"request.commented", "[{{app.name}}] New comment on {{request.title}}",
     TEXT("{{#if comment.author}}{{comment.author}}{{else}}Someone{{/if}} commented on \"{{request.title}}\":\n\n"
          "{{comment.body}}\n\nReply here: " REQ_LINK),
     HTML("<p>{{#if comment.author}}{{comment.author}}{{else}}Someone{{/if}} commented on "
          "<strong>{{request.title}}</strong>:</p>\n<blockquote>{{comment.body}}</blockquote>\n" BUTTON(REQ_LINK,
                                                                                                        "Reply"))},
    {"request.assigned",
     "[{{app.name}}] Assigned to {{#if assignee.name}}{{assignee.name}}{{else}}you{{/if}}: "
     "{{request.title}}",
     TEXT("The request \"{{request.title}}\" ({{request.type}}) is now assigned to "
          "{{#if assignee.name}}{{assignee.name}}{{else}}you{{/if}}.\n\nOpen it: " REQ_LINK),
     HTML("<p>The request <strong>{{request.title}}</strong> ({{request.type}}) is now assigned to "
          "{{#if assignee.name}}{{assignee.name}}{{else}}you{{/if}}.</p>\n" BUTTON(REQ_LINK, "Open the request"))},
    {"order.placed", "[{{app.name}}] We received your order {{order.id}}",
     TEXT("Thank you for your order {{order.id}}.\n\nTotal: " ORDER_TOTAL
          "\n\nWe will write again once your payment is confirmed. Your order: " ORDER_LINK),
     HTML("<p>Thank you for your order <strong>{{order.id}}</strong>.</p>\n<p>Total: <strong>" ORDER_TOTAL
          "</strong></p>\n<p>We will write again once your payment is confirmed.</p>\n" BUTTON(ORDER_LINK,
                                                                                               "View your order"))},
    {"order.paid", "[{{app.name}}] Payment received for order {{order.id}}",
     TEXT("We received your payment for order {{order.id}}.\n\nTotal paid: " ORDER_TOTAL
          "\n\nWe are preparing your order now. Follow it here: " ORDER_LINK),
     HTML(
         "<p>We received your payment for order <strong>{{order.id}}</strong>.</p>\n<p>Total paid: <strong>" ORDER_TOTAL
         "</strong></p>\n<p>We are preparing your order now.</p>\n" BUTTON(ORDER_LINK, "Follow your order"))},
    {"order.cancelled", "[{{app.name}}] Order {{order.id}} was cancelled",
     TEXT("Your order {{order.id}} was cancelled.{{#if reason}}\n\nReason: {{reason}}{{/if}}\n\n"
          "If you paid, the amount is refunded. Details: " ORDER_LINK),
     HTML("<p>Your order <strong>{{order.id}}</strong> was cancelled.</p>\n{{#if reason}}<p>Reason: "
          "{{reason}}</p>\n{{/if}}<p>If you paid, the amount is refunded.</p>\n" BUTTON(ORDER_LINK, "Order details"))},
    {"order.shipped", "[{{app.name}}] Order {{order.id}} is on its way",
     TEXT("Good news: your order {{order.id}} has shipped.{{#if tracking}}\n\nTracking: {{tracking}}{{/if}}\n\n"
          "Follow it here: " ORDER_LINK),
     HTML("<p>Good news: your order <strong>{{order.id}}</strong> has shipped.</p>\n{{#if tracking}}<p>Tracking: "
          "{{tracking}}</p>\n{{/if}}" BUTTON(ORDER_LINK, "Follow your order"))},
    {"order.delivered", "[{{app.name}}] Order {{order.id}} was delivered",
     TEXT("Your order {{order.id}} was delivered. We hope you enjoy it!\n\nYour order: " ORDER_LINK),
     HTML("<p>Your order <strong>{{order.id}}</strong> was delivered. We hope you enjoy it!</p>\n" BUTTON(
         ORDER_LINK, "View your order"))},
    {"order.refunded", "[{{app.name}}] Refund for order {{order.id}}",
     TEXT("We refunded {{#if refund.amount}}{{refund.amount}}{{#if order.currency}} {{order.currency}}{{/if}}"
          "{{else}}your payment{{/if}} for order {{order.id}}.{{#if reason}}\n\nReason: {{reason}}{{/if}}\n\n"
          "It can take a few days to show on your statement. Details: " ORDER_LINK),
     HTML("<p>We refunded <strong>{{#if refund.amount}}{{refund.amount}}{{#if order.currency}} "
          "{{order.currency}}{{/if}}{{else}}your payment{{/if}}</strong> for order <strong>{{order.id}}</strong>.</p>\n"
          "{{#if reason}}<p>Reason: {{reason}}</p>\n{{/if}}<p>It can take a few days to show on your "
          "statement.</p>\n" BUTTON(ORDER_LINK, "Order details"))},
    {"stock.low", "[{{app.name}}] Low stock: {{product.name}}",
     TEXT("Stock of {{product.name}}{{#if product.sku}} ({{product.sku}}){{/if}} is low: {{stock.available}} left"
          "{{#if stock.threshold}} (threshold {{stock.threshold}}){{/if}}.\n\nRestock it: "
          "{{app.url}}/products/{{product.id}}"),
     HTML("<p>Stock of <strong>{{product.name}}</strong>{{#if product.sku}} ({{product.sku}}){{/if}} is low: "
          "<strong>{{stock.available}}</strong> left{{#if stock.threshold}} (threshold "
          "{{stock.threshold}}){{/if}}.</p>\n" BUTTON("{{app.url}}/products/{{product.id}}", "Open the product"))},
    {"account.verify_email", "[{{app.name}}] Confirm your e-mail address",
     TEXT("Please confirm that this is your e-mail address by opening this link:\n\n{{link}}\n\n"
          "{{#if expires_in}}The link expires in {{expires_in}}. {{/if}}If you did not create an account, ignore "
          "this message."),
     HTML("<p>Please confirm that this is your e-mail address.</p>\n" BUTTON(
         "{{link}}",
         "Confirm my address") "<p style=\"font-size:12px\">Or open: <a href=\"{{link}}\">{{link}}</a></p>\n"
                               "<p>{{#if expires_in}}The link expires in {{expires_in}}. {{/if}}If you did "
                               "not create an account, ignore this message.</p>")},
    {"account.password_reset", "[{{app.name}}] Reset your password",
     TEXT("Someone asked to reset the password of your account. To choose a new one, open this link:\n\n{{link}}\n\n"
          "{{#if expires_in}}The link expires in {{expires_in}} and works once. {{/if}}If you did not ask for this, "
          "ignore this message: your password stays as it is."),
     HTML("<p>Someone asked to reset the password of your account.</p>\n" BUTTON(
         "{{link}}", "Choose a new password") "<p style=\"font-size:12px\">Or open: <a "
                                              "href=\"{{link}}\">{{link}}</a></p>\n<p>{{#if expires_in}}The link "
                                              "expires in {{expires_in}} and works once. {{/if}}If you did not ask "
                                              "for this, ignore this message: your password stays as it is.</p>")},
    {"account.password_changed", "[{{app.name}}] Your password was changed",
     TEXT("The password of your account was changed{{#if changed_at}} at {{changed_at}}{{/if}}. Your other "
          "sessions were signed out.\n\nIf this was not you, reset your password at once: {{app.url}}/password-reset"),
     HTML("<p>The password of your account was changed{{#if changed_at}} at {{changed_at}}{{/if}}. Your other "
          "sessions were signed out.</p>\n<p>If this was not you, reset your password at once.</p>\n" BUTTON(
              "{{app.url}}/password-reset", "Reset my password"))},
};

#define NKINDS (sizeof k_defaults / sizeof k_defaults[0])

const char *const mail_kinds[] = {"request.notify",
                                  "approval.requested",
                                  "approval.decided",
                                  "sla.warning",
                                  "sla.breached",
                                  "request.commented",
                                  "request.assigned",
                                  "order.placed",
                                  "order.paid",
                                  "order.cancelled",
                                  "order.shipped",
                                  "order.delivered",
                                  "order.refunded",
                                  "stock.low",
                                  "account.verify_email",
                                  "account.password_reset",
                                  "account.password_changed",
                                  NULL};

int mail_kind_index(const char *kind) {
  for (size_t i = 0; kind && i < NKINDS; i++)
    if (strcmp(k_defaults[i].kind, kind) == 0) return (int)i;
  return -1;
}

int mail_tpl_default(const char *kind, const char **subject, const char **text, const char **html) {
  int i = mail_kind_index(kind);
  if (i < 0) return -1;
  *subject = k_defaults[i].subject;
  *text = k_defaults[i].text;
  *html = k_defaults[i].html;
  return 0;
}
