// Errors that escape a screen: shown in words with a way back, never a
// blank page. RouteError is the router's errorElement; ErrorBoundary wraps
// the outlet so the shell (navigation) stays usable.
import { Component, type ErrorInfo, type ReactNode } from "react";
import { Alert, Anchor, Button, Group, Stack } from "@mantine/core";
import { isRouteErrorResponse, useRouteError } from "react-router-dom";

function ErrorView({ message, onRetry }: { message: string; onRetry?: () => void }) {
  return (
    <Stack p="md" maw={640}>
      <Alert color="red" title="Something went wrong" role="alert">
        {message}
      </Alert>
      <Group>
        {onRetry && <Button onClick={onRetry}>Try again</Button>}
        <Anchor href="/">Go to the start page</Anchor>
      </Group>
    </Stack>
  );
}

export function RouteError() {
  const err = useRouteError();
  const message = isRouteErrorResponse(err)
    ? `${err.status} ${err.statusText}`
    : err instanceof Error
      ? err.message
      : String(err);
  return <ErrorView message={message} onRetry={() => window.location.reload()} />;
}

export class ErrorBoundary extends Component<{ children: ReactNode; resetKey?: string }, { error: Error | null }> {
  state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error("screen failed", error, info.componentStack);
  }

  componentDidUpdate(prev: { resetKey?: string }) {
    if (prev.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }

  render() {
    if (this.state.error)
      return <ErrorView message={this.state.error.message} onRetry={() => this.setState({ error: null })} />;
    return this.props.children;
  }
}
