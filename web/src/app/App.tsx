import { MantineProvider } from "@mantine/core";
import { useNotifications } from "@mantine/notifications";
import { QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "react-router-dom";
import { queryClient } from "./queryClient";
import { router } from "./routes";
import { theme } from "./theme";
import { UpdatePrompt } from "./UpdatePrompt";
import { useFirstDrawn, useLoaded } from "./lazyPage";

// The toasts' container (and its transitions) is mounted with the first toast
// (the store keeps it meanwhile; it appears as the container mounts), and
// stays: a screen that shows none never draws it. Its code is in the `ui`
// chunk, which index.html preloads.
const loadToasts = () => import("@mantine/notifications").then((m) => m.Notifications);

/** Its own component: the container's arrival redraws it alone, not the whole app. */
function Toasts() {
  // useLoaded keeps what arrived: the container stays once a toast has been shown
  const Notifications = useLoaded(loadToasts, useNotifications().notifications.length > 0);
  return Notifications ? <Notifications position="top-right" zIndex={2000} /> : null;
}

export function App() {
  useFirstDrawn();
  return (
    // the theme's variables and the global classes are a stylesheet made at build time
    // (theme/plugin.ts, imported by main.tsx): the provider makes neither in each render
    <MantineProvider theme={theme} defaultColorScheme="light" withCssVariables={false} withGlobalClasses={false}>
      <Toasts />
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} future={{ v7_startTransition: true }} />
      </QueryClientProvider>
      <UpdatePrompt />
    </MantineProvider>
  );
}
