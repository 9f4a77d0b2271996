// A stock adjustment: a signed delta and a reason, against the stock
// version shown (If-Match); the stock is live from `stock:<id>`.
import { useState, type FormEvent } from "react";
import { Button, Group, NumberInput, Stack, Text, TextInput } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "../../../api/client";
import { useLiveQuery } from "../../../live/hooks";
import { FormAlert, notifyOk, useFormErrors } from "../../../ui/errors";
import type { Product } from "./ProductForm";

export function useStockOf(id: string) {
  useLiveQuery(`stock:${id}`, ["stock", id]);
  return useQuery({
    queryKey: ["stock", id],
    queryFn: () => unwrap(api.GET("/api/v1/inventory/{product_id}", { params: { path: { product_id: id } } })),
  });
}

export function StockForm({ product, onDone }: { product: Product; onDone(): void }) {
  const qc = useQueryClient();
  const stock = useStockOf(product.id);
  const errs = useFormErrors();
  const [delta, setDelta] = useState<number | string>("");
  const [reason, setReason] = useState("");
  const [key, setKey] = useState(idempotencyKey);
  const adjust = useMutation({
    meta: { form: true },
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/inventory/{product_id}/adjustments", {
          params: {
            path: { product_id: product.id },
            header: { "Idempotency-Key": key, ...(stock.data ? { "If-Match": `"${stock.data.version}"` } : {}) },
          },
          body: { delta: Number(delta === "" ? 0 : delta), reason },
        }),
      ),
    onSuccess: (s) => {
      qc.setQueryData(["stock", product.id], s);
      notifyOk(`${product.name}: ${s.on_hand} on hand, ${s.available} available.`, "Stock adjusted");
      setKey(idempotencyKey());
      onDone();
    },
    onError: (e) => errs.setError(e),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    adjust.mutate();
  };
  const s = stock.data;
  return (
    <form onSubmit={submit} noValidate aria-label={`Adjust the stock of ${product.name}`}>
      <Stack>
        <Text size="sm" role="status">
          {s ? `On hand ${s.on_hand}, reserved ${s.reserved}, available ${s.available}.` : "Loading the stock…"}
        </Text>
        <FormAlert error={errs.error} fields={["delta", "reason"]} />
        <NumberInput label="Change (+ adds, − removes)" required allowDecimal={false} value={delta} onChange={setDelta} error={errs.fieldError("delta")} />
        <TextInput label="Reason" required value={reason} onChange={(e) => setReason(e.currentTarget.value)} error={errs.fieldError("reason")} placeholder="delivery, count, damage…" />
        <Group>
          <Button type="submit" loading={adjust.isPending} data-testid="adjust-stock">
            Adjust the stock
          </Button>
          <Button variant="default" onClick={onDone}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
