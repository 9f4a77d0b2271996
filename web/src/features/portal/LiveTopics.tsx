// Follows several topics at once (one subscription each on the shared
// socket) and calls `onEvent` for any of their events: a list whose rows
// each have their own topic, or a queue of every type.
import { useLive, type LiveEvent, type LiveMessage } from "../../live/hooks";

function One({ topic, onEvent, onMessage }: { topic: string; onEvent: (ev: LiveEvent) => void; onMessage?: (m: LiveMessage) => void }) {
  useLive(topic, onEvent, onMessage);
  return null;
}

/**
 * `onEvent` for every event of `topics`; `onMessage` also sees the control
 * messages (a reset, or a subscription that did not resume, means events may
 * have been missed: reload).
 */
export function LiveTopics({
  topics,
  onEvent,
  onMessage,
}: {
  topics: string[];
  onEvent: (ev: LiveEvent) => void;
  onMessage?: (m: LiveMessage) => void;
}) {
  return (
    <>
      {[...new Set(topics)].map((t) => (
        <One key={t} topic={t} onEvent={onEvent} onMessage={onMessage} />
      ))}
    </>
  );
}
