// Imported first by main.tsx, so that the session's refresh (a round trip
// every signed-in screen waits for) leaves before the rest of the app's
// modules are evaluated (Mantine, the shell, every feature's routes), not
// after them: the answer then arrives while they run. The module graph is
// evaluated in one go, so the listeners those modules register (queryClient.ts,
// the shop's cart) are in place before any answer is handled.
import { startSession } from "./session";

startSession();
