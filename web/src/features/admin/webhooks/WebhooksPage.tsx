import { Coming } from "../../../ui/Coming";

export default function WebhooksPage() {
  return <Coming title="WebhooksPage" />;
}
