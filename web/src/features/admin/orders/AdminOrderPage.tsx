// One order for the back office: lines, payment, the saga's steps (from the
// order's event stream, live), the lifecycle moves and refunds.
import { useState, type FormEvent } from "react";
import { Alert, Button, Center, Grid, Group, Loader, NumberInput, Paper, Stack, Table, Text, Timeline, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { api, idempotencyKey, unwrap } from "../../../api/client";
import { useLiveQuery } from "../../../live/hooks";
import { Page } from "../../../ui/Page";
import { FormAlert, QueryError, notifyOk, useFormErrors } from "../../../ui/errors";
import { dateTime, money } from "../../../ui/format";
import { StatusBadge, stepOf, type Order } from "./orderWords";

const moves: Partial<Record<Order["status"], { path: "fulfil" | "ship" | "deliver"; label: string }>> = {
  paid: { path: "fulfil", label: "Mark fulfilled" },
  fulfilled: { path: "ship", label: "Mark shipped" },
  shipped: { path: "deliver", label: "Mark delivered" },
};

function Refund({ order }: { order: Order }) {
  const qc = useQueryClient();
  const errs = useFormErrors();
  const left = (order.payment.captured ?? 0) - (order.payment.refunded ?? 0);
  const digits = 2;
  const [amount, setAmount] = useState<number | string>("");
  const [key, setKey] = useState(idempotencyKey);
  const refund = useMutation({
    meta: { form: true },
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/orders/{id}/refunds", {
          params: { path: { id: order.id }, header: { "If-Match": `"${order.version}"`, "Idempotency-Key": key, Prefer: "wait=5" } },
          body: amount === "" ? {} : { amount: Math.round(Number(amount) * 10 ** digits) },
        }),
      ),
    onSuccess: (o) => {
      qc.setQueryData(["order", o.id], o);
      void qc.invalidateQueries({ queryKey: ["order", o.id] });
      notifyOk(o.settled ? `Refunded: ${money(o.payment.refunded ?? 0, o.currency)} in all.` : "The refund is accepted and runs in the saga.");
      setAmount("");
      setKey(idempotencyKey());
    },
    onError: (e) => errs.setError(e),
  });
  const can = order.settled && (order.payment.captured ?? 0) > 0 && order.status !== "refunded";
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    refund.mutate();
  };
  return (
    <form onSubmit={submit} noValidate aria-label="Refund">
      <Stack gap="xs">
        <Text size="sm">
          Captured {money(order.payment.captured ?? 0, order.currency)}, refunded {money(order.payment.refunded ?? 0, order.currency)}; up to{" "}
          {money(left, order.currency)} can be refunded.
        </Text>
        <FormAlert error={errs.error} fields={["amount"]} />
        <NumberInput
          label={`Amount (${order.currency})`}
          description="Leave empty to refund all that is left"
          min={0}
          decimalScale={digits}
          value={amount}
          onChange={setAmount}
          error={errs.fieldError("amount")}
          disabled={!can}
        />
        <Group>
          <Button type="submit" color="red" variant="light" loading={refund.isPending} disabled={!can} data-testid="refund-order">
            Issue the refund
          </Button>
        </Group>
        {!can && <Text size="sm">{!order.settled ? "A saga step is running; wait for it." : "Nothing is left to refund."}</Text>}
      </Stack>
    </form>
  );
}

export default function AdminOrderPage() {
  const { id = "" } = useParams();
  const qc = useQueryClient();
  useLiveQuery(`order:${id}`, ["order", id]);
  const order = useQuery({ queryKey: ["order", id], queryFn: () => unwrap(api.GET("/api/v1/orders/{id}", { params: { path: { id } } })) });
  const events = useQuery({
    queryKey: ["order", id, "events", order.data?.version],
    enabled: !!order.data,
    queryFn: () => unwrap(api.GET("/api/v1/orders/{id}/events", { params: { path: { id } } })),
  });
  const move = useMutation({
    mutationFn: (m: { path: "fulfil" | "ship" | "deliver"; version: number }) =>
      unwrap(
        api.POST(`/api/v1/orders/{id}/${m.path}`, {
          params: { path: { id }, header: { "If-Match": `"${m.version}"` } },
          body: {},
        } as never),
      ),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ["order", id] }),
  });
  if (order.isPending)
    return (
      <Center py="xl">
        <Loader aria-label="Loading the order" />
      </Center>
    );
  if (order.isError)
    return (
      <Page title="Order">
        <QueryError error={order.error} what="the order" />
      </Page>
    );
  const o = order.data;
  const next = moves[o.status];
  const steps = events.data?.data ?? [];
  return (
    <Page
      title={`Order ${o.id}`}
      actions={
        next && (
          <Button onClick={() => move.mutate({ path: next.path, version: o.version })} loading={move.isPending}>
            {next.label}
          </Button>
        )
      }
    >
      <Group gap="sm">
        <StatusBadge status={o.status} />
        <Text size="sm">
          {money(o.total, o.currency)} · customer <code>{o.customer_id}</code> · placed {dateTime(o.created_at)} · payment {o.payment.status}
          {o.payment.card_last4 ? ` (card ending ${o.payment.card_last4})` : ""}
        </Text>
      </Group>
      {o.failure_reason && (
        <Alert color="red" title="Cancelled">
          {o.failure_reason.replace(/_/g, " ")}
        </Alert>
      )}
      <Grid>
        <Grid.Col span={{ base: 12, md: 6 }} miw={0}>
          <Stack>
            <Paper withBorder style={{ overflowX: "auto" }} tabIndex={0}>
              <Table miw={360}>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Product</Table.Th>
                    <Table.Th>Quantity</Table.Th>
                    <Table.Th>Subtotal</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {o.items.map((i) => (
                    <Table.Tr key={i.product_id}>
                      <Table.Td>{i.name ?? i.product_id}</Table.Td>
                      <Table.Td>{i.quantity}</Table.Td>
                      <Table.Td>{money(i.subtotal, o.currency)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Paper>
            <Paper withBorder p="md">
              <Title order={2} size="h4" mb="xs">
                Refund
              </Title>
              <Refund key={o.version} order={o} />
            </Paper>
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 6 }} miw={0}>
          <Paper withBorder p="md">
            <Group justify="space-between" mb="sm">
              <Title order={2} size="h4">
                Saga steps
              </Title>
              <Text size="sm" role="status">
                {o.settled ? "settled" : "a step is running…"}
              </Text>
            </Group>
            {events.isError && <QueryError error={events.error} what="the order's events" />}
            <Timeline active={steps.length - 1} bulletSize={14} lineWidth={2} data-testid="saga-steps">
              {steps.map((ev) => {
                const st = stepOf(ev, o.currency);
                return (
                  <Timeline.Item key={ev.id} title={st.title} color={st.bad ? "red" : "blue"}>
                    {st.detail && <Text size="sm">{st.detail}</Text>}
                    <Text size="xs" c="dimmed">
                      {dateTime(ev.at)}
                    </Text>
                  </Timeline.Item>
                );
              })}
            </Timeline>
          </Paper>
        </Grid.Col>
      </Grid>
    </Page>
  );
}
