// "A new version is available": shown when a new build of the app is
// installed and waiting (serviceWorker.ts); Reload lets it take over.
import { useSyncExternalStore } from "react";
import { Button, Group, Paper, Text } from "@mantine/core";
import { activateUpdate, subscribeWaitingWorker, waitingWorker } from "./serviceWorker";

export function UpdatePrompt() {
  const waiting = useSyncExternalStore(subscribeWaitingWorker, waitingWorker, () => null);
  if (!waiting) return null;
  return (
    <Paper
      role="status"
      shadow="md"
      withBorder
      p="sm"
      data-testid="update-prompt"
      style={{ position: "fixed", insetInlineEnd: 16, insetBlockEnd: 16, zIndex: 2100, maxWidth: "calc(100vw - 32px)" }}
    >
      <Group gap="sm" wrap="nowrap">
        <Text size="sm">A new version is available.</Text>
        <Button size="xs" onClick={activateUpdate}>
          Reload
        </Button>
      </Group>
    </Paper>
  );
}
