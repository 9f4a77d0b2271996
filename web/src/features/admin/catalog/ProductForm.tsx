// Create or edit a product. Prices are typed in the currency's main unit
// and sent in minor units (docs/commerce.md); an edit sends only the fields
// that changed, with the version shown (If-Match).
import { useState, type FormEvent } from "react";
import { Button, Group, NumberInput, Select, SimpleGrid, Stack, TextInput } from "@mantine/core";
import { AutoTextarea } from "../../../ui/AutoTextarea";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "../../../api/client";
import type { components } from "../../../api/schema";
import { FormAlert, notifyOk, useFormErrors } from "../../../ui/errors";
import { fractionDigits } from "../../../ui/format";

export type Product = components["schemas"]["Product"];
type Status = Product["status"];

interface Draft {
  sku: string;
  name: string;
  description: string;
  price: number | string;
  currency: string;
  status: Status;
  category_id: string | null;
}

export function ProductForm({ product, onDone }: { product: Product | null; onDone(): void }) {
  const qc = useQueryClient();
  const errs = useFormErrors();
  const [key] = useState(idempotencyKey);
  const cats = useQuery({ queryKey: ["categories"], queryFn: () => unwrap(api.GET("/api/v1/categories")), staleTime: 60_000 });
  const [d, setD] = useState<Draft>(() =>
    product
      ? {
          sku: product.sku,
          name: product.name,
          description: product.description,
          price: product.price / 10 ** fractionDigits(product.currency),
          currency: product.currency,
          status: product.status,
          category_id: product.category_id,
        }
      : { sku: "", name: "", description: "", price: "", currency: "EUR", status: "draft", category_id: null },
  );
  const minor = () => Math.round(Number(d.price === "" ? NaN : d.price) * 10 ** fractionDigits(d.currency || "EUR"));
  const save = useMutation({
    meta: { form: true },
    mutationFn: async () => {
      const body = { sku: d.sku, name: d.name, description: d.description, price: minor(), currency: d.currency, status: d.status, category_id: d.category_id };
      if (!product)
        return unwrap(api.POST("/api/v1/products", { params: { header: { "Idempotency-Key": key } }, body }));
      const changed = Object.fromEntries(
        Object.entries(body).filter(([k, v]) => (product as unknown as Record<string, unknown>)[k] !== v),
      ) as Partial<typeof body>;
      return unwrap(
        api.PATCH("/api/v1/products/{id}", {
          params: { path: { id: product.id }, header: { "If-Match": `"${product.version}"` } },
          body: changed,
        }),
      );
    },
    onSuccess: (p) => {
      notifyOk(`${p.name} is saved (${p.status}).`);
      void qc.invalidateQueries({ queryKey: ["admin-products"] });
      void qc.invalidateQueries({ queryKey: ["product", p.id] });
      onDone();
    },
    onError: (e) => errs.setError(e),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    save.mutate();
  };
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setD((x) => ({ ...x, [k]: v }));
  return (
    <form onSubmit={submit} noValidate aria-label={product ? `Edit ${product.name}` : "New product"}>
      <Stack>
        <FormAlert error={errs.error} fields={["sku", "name", "description", "price", "currency", "status", "category_id"]} />
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          <TextInput label="SKU" required value={d.sku} onChange={(e) => set("sku", e.currentTarget.value)} error={errs.fieldError("sku")} />
          <TextInput label="Name" required value={d.name} onChange={(e) => set("name", e.currentTarget.value)} error={errs.fieldError("name")} />
          <NumberInput
            label={`Price (${d.currency || "EUR"})`}
            required
            min={0}
            decimalScale={fractionDigits(d.currency || "EUR")}
            value={d.price}
            onChange={(v) => set("price", v)}
            error={errs.fieldError("price")}
          />
          <TextInput label="Currency" description="ISO 4217, e.g. EUR" required maxLength={3} value={d.currency} onChange={(e) => set("currency", e.currentTarget.value.toUpperCase())} error={errs.fieldError("currency")} />
          <Select label="Status" data={["draft", "active", "archived"]} value={d.status} onChange={(v) => v && set("status", v as Status)} allowDeselect={false} error={errs.fieldError("status")} />
          <Select
            label="Category"
            placeholder="None"
            clearable
            data={(cats.data?.data ?? []).map((c) => ({ value: c.id, label: c.name }))}
            value={d.category_id}
            onChange={(v) => set("category_id", v)}
            error={errs.fieldError("category_id")}
          />
        </SimpleGrid>
        <AutoTextarea label="Description" minRows={2} value={d.description} onChange={(e) => set("description", e.currentTarget.value)} error={errs.fieldError("description")} />
        <Group>
          <Button type="submit" loading={save.isPending} data-testid="save-product">
            {product ? "Save changes" : "Create the product"}
          </Button>
          <Button variant="default" onClick={onDone}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
