// The catalog: search (full text, every word a prefix), category filter,
// cursor paging ("Show more").
import { useState, type FormEvent } from "react";
import { Button, Card, Center, Group, NativeSelect, SimpleGrid, Stack, Text, TextInput } from "@mantine/core";
import { Link, useSearchParams } from "react-router-dom";
import { Page } from "../../ui/Page";
import { QueryError } from "../../ui/errors";
import { money } from "../../ui/format";
import { useCategories, useProducts, type Product } from "./shopApi";
import { Loading } from "../../ui/Loading";
import { cursorItems } from "../../api/lists";
import { useDeferredData } from "../../app/lazyPage";

function ProductCard({ p }: { p: Product }) {
  return (
    <Card withBorder padding="md" component="article" aria-labelledby={`p-${p.id}`}>
      <Stack gap={6} h="100%" justify="space-between">
        <div>
          <Text component={Link} to={`/products/${p.id}`} fw={600} id={`p-${p.id}`} c="blue.9">
            {p.name}
          </Text>
          <Text size="sm" c="dimmed" lineClamp={2}>
            {p.description}
          </Text>
        </div>
        <Text fw={700}>{money(p.price, p.currency)}</Text>
      </Stack>
    </Card>
  );
}

/** The filter's options: all, each category, and the URL's category while it is not among them
 * (still loading, or gone): the select shows what the list is filtered by, and picking "All
 * categories" is then a change that clears it. */
function categoryOptions(current: string | null, list: Array<{ id: string; name: string }> | undefined, loading: boolean) {
  const options = [{ value: "", label: "All categories" }, ...(list ?? []).map((c) => ({ value: c.id, label: c.name }))];
  if (current && !options.some((o) => o.value === current))
    options.push({ value: current, label: loading ? "Loading categories…" : "A category that no longer exists" });
  return options;
}

export default function CatalogPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const category = params.get("category");
  const [text, setText] = useState(q);
  const products = useProducts(q, category);
  const categories = useCategories();

  const search = (e: FormEvent) => {
    e.preventDefault();
    const next = new URLSearchParams(params);
    if (text.trim()) next.set("q", text.trim());
    else next.delete("q");
    setParams(next);
  };
  // drawn with its data in slices, not one long task (app/lazyPage.ts, "deferred")
  const data = useDeferredData(products.data);
  const items = cursorItems(data);

  return (
    <Page title="Shop">
      <form onSubmit={search} role="search" aria-label="Search the catalog">
        <Group align="flex-end" gap="sm" wrap="wrap">
          <TextInput
            label="Search products"
            name="q"
            type="search"
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            style={{ flex: "1 1 200px" }}
            data-testid="catalog-search"
          />
          {/* the browser's own select, as on the portal's and the desk's filters: Mantine's Select
              mounts a popover (floating-ui measuring the page in a layout effect, then drawing
              again) and a focus trap with the first screen, a forced layout and extra commits */}
          <NativeSelect
            label="Category"
            data={categoryOptions(category, categories.data?.data, categories.isPending)}
            value={category ?? ""}
            onChange={(e) => {
              const next = new URLSearchParams(params);
              const v = e.currentTarget.value;
              if (v) next.set("category", v);
              else next.delete("category");
              setParams(next);
            }}
            style={{ flex: "0 1 220px" }}
          />
          <Button type="submit">Search</Button>
        </Group>
      </form>
      {products.isError && <QueryError error={products.error} what="the catalog" />}
      {!data && !products.isError ? (
        <Loading label="Loading products" />
      ) : items.length === 0 && !products.isError ? (
        <Text role="status">{q ? `No products match “${q}”.` : "No products yet."}</Text>
      ) : (
        <SimpleGrid cols={{ base: 1, xs: 2, md: 3, lg: 4 }} spacing="md" data-testid="product-list">
          {items.map((p) => (
            <ProductCard key={p.id} p={p} />
          ))}
        </SimpleGrid>
      )}
      {products.hasNextPage && (
        <Center>
          <Button variant="default" onClick={() => void products.fetchNextPage()} loading={products.isFetchingNextPage}>
            Show more
          </Button>
        </Center>
      )}
    </Page>
  );
}
