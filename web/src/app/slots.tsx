// Small pieces features put into the shell's header (the shop's cart
// button), so the shell does not import a feature's screens.
import type { ComponentType } from "react";

const extras: ComponentType[] = [];

export function addHeaderExtra(c: ComponentType): void {
  extras.push(c);
}

export function HeaderExtras() {
  return (
    <>
      {extras.map((C, i) => (
        <C key={i} />
      ))}
    </>
  );
}
