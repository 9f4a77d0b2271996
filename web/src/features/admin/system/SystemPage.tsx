import { Coming } from "../../../ui/Coming";

export default function SystemPage() {
  return <Coming title="SystemPage" />;
}
