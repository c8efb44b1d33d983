"""Pages of the web app. Each role's pages live in their own module
(``performer``, ``brand``, ``union``, ``public``); this one holds the landing page,
the signed-in home that sends each person to their party's pages, and invitations."""
