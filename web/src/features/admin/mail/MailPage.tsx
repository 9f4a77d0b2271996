import { Coming } from "../../../ui/Coming";

export default function MailPage() {
  return <Coming title="MailPage" />;
}
