import { Text } from "@mantine/core";
import { Page } from "./Page";

/** A placeholder for a screen another change fills in. */
export function Coming({ title }: { title: string }) {
  return (
    <Page title={title}>
      <Text>This part of Service Flow is coming soon.</Text>
    </Page>
  );
}
