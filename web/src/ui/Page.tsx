import type { ReactNode } from "react";
import { Group, Stack, Title } from "@mantine/core";
import { useEffect } from "react";

/** A screen's frame: its heading (the page's h1) and document title. */
export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Service Flow`;
  }, [title]);
  return (
    <Stack gap="md">
      <Group justify="space-between" wrap="wrap" gap="sm">
        <Title order={1} size="h2" style={{ overflowWrap: "anywhere" }}>
          {title}
        </Title>
        {actions}
      </Group>
      {children}
    </Stack>
  );
}
