import { Anchor, Text } from "@mantine/core";
import { Link } from "react-router-dom";
import { Page } from "../ui/Page";

export function NotFoundPage() {
  return (
    <Page title="Page not found">
      <Text>There is no page at this address.</Text>
      <Anchor component={Link} to="/">
        Back to the shop
      </Anchor>
    </Page>
  );
}
