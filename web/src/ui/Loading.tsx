import { Center, Loader } from "@mantine/core";

/** A spinner that says what it waits for (to screen readers, as a status). */
export function Loading({ label, inline = false }: { label: string; inline?: boolean }) {
  const body = (
    <>
      <Loader size={inline ? "xs" : "md"} aria-hidden="true" />
      <span className="visually-hidden">{label}</span>
    </>
  );
  return inline ? (
    <span role="status">{body}</span>
  ) : (
    <Center py="xl" role="status">
      {body}
    </Center>
  );
}
