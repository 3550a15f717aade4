package web

import "healthcode"

// routeTable is every route the server has, with who may call it. The
// OpenAPI test and the authorization tests are driven from it.
func (s *Server) routeTable() []route {
	tracer := []healthcode.Role{healthcode.RoleTracer}
	lab := []healthcode.Role{healthcode.RoleLab}
	venue := []healthcode.Role{healthcode.RoleVenue}
	checkpoint := []healthcode.Role{healthcode.RoleCheckpoint}
	official := []healthcode.Role{healthcode.RoleTracer, healthcode.RoleAdmin}
	reviewer := []healthcode.Role{healthcode.RoleReviewer}
	tracerOrReviewer := []healthcode.Role{healthcode.RoleTracer, healthcode.RoleReviewer}
	auditor := []healthcode.Role{healthcode.RoleAuditor}
	admin := []healthcode.Role{healthcode.RoleAdmin}
	return []route{
		{"GET", "/healthz", public, nil, "The process is up", s.healthz},
		{"GET", "/readyz", public, nil, "The database answers and the keys are loaded", s.readyz},
		{"GET", "/metrics", public, nil, "Prometheus metrics", s.getMetrics},
		{"GET", "/.well-known/healthcode/peer-trust-lists", public, nil, "The trusted peer regions' signed trust lists", s.getPeerTrustLists},
		{"GET", "/.well-known/jwks.json", public, nil, "The SMART Health Card issuer's public keys", s.getJWKS},
		{"GET", "/.well-known/healthcode/dsc.pem", public, nil, "The EU DCC document-signer certificate", s.getDSC},
		{"GET", "/api/v1/me/certificates/shc", resident, nil, "A SMART Health Card of your vaccinations or tests", s.issueSHC},
		{"GET", "/api/v1/me/certificates/dcc", resident, nil, "An EU Digital COVID Certificate of your latest vaccination, test or recovery", s.issueDCC},
		{"GET", "/api/v1/residents/{id}/certificates/shc", resident, nil, "A dependent's SMART Health Card", s.issueSHC},
		{"POST", "/api/v1/me/certificates/import", resident, nil, "Import a foreign EU Digital COVID Certificate into your record", s.importCertificate},
		{"POST", "/api/v1/residents/{id}/certificates/import", resident, nil, "Import a dependent's foreign EU Digital COVID Certificate", s.importCertificate},
		{"GET", "/api/v1/residents/{id}/certificates/dcc", resident, nil, "A dependent's EU Digital COVID Certificate", s.issueDCC},
		{"GET", "/api/v1/openapi.json", public, nil, "This API's OpenAPI document", s.openapi},
		{"GET", "/.well-known/healthcode/trust-list", public, nil, "The region's signed trust list", s.getTrustList},
		{"GET", "/api/v1/rules", public, nil, "The published rule set", s.getRules},
		{"POST", "/api/v1/rules", roles, admin, "Publish a new rule set", s.publishRuleSet},
		{"POST", "/api/v1/rules/preview", roles, admin, "What a proposed rule set would change, without publishing it", s.previewRuleSet},
		{"GET", "/api/v1/rules/versions", public, nil, "Every publication of a rule set, newest first", s.listRuleSetVersions},
		{"GET", "/api/v1/rules/versions/{version}", public, nil, "One published rule set with its document", s.getRuleSetVersion},
		{"POST", "/api/v1/rules/versions/{version}/publish", roles, admin, "Put an earlier rule set back in force (rollback)", s.republishRuleSet},
		{"GET", "/api/v1/rules/diff", public, nil, "What changed between two rule sets", s.diffRuleSetVersions},
		{"GET", "/api/v1/areas", public, nil, "Announced area risk levels", s.listAreas},
		{"POST", "/api/v1/verify", public, nil, "Verify a health code", s.verify},
		{"GET", "/.well-known/healthcode/status-list", public, nil, "The signed status list of paper codes", s.getStatusList},
		{"GET", "/api/v1/venues/{id}", public, nil, "A venue's name, address and policy", s.getVenue},
		{"GET", "/P/{code}", public, nil, "The page a place code opens", s.placePage},
		{"GET", "/p/{code}", public, nil, "The page a place code opens (lower case)", s.placePage},
		{"POST", "/P/{code}", resident, nil, "Check in by place code from its page", s.placePage},
		{"POST", "/p/{code}", resident, nil, "Check in by place code from its page (lower case)", s.placePage},

		{"POST", "/api/v1/residents", public, nil, "Enroll", s.enroll},
		{"POST", "/api/v1/login", public, nil, "Sign in with phone and password", s.login},
		{"POST", "/api/v1/logout", resident, nil, "Sign out", s.logout},

		{"GET", "/api/v1/me", resident, nil, "Your profile", s.getResident},
		{"GET", "/api/v1/me/dependents", resident, nil, "Residents you are guardian of", s.listDependents},
		{"POST", "/api/v1/me/dependents", resident, nil, "Enroll a dependent", s.enrollDependent},
		{"GET", "/api/v1/me/declarations", resident, nil, "Your declarations", s.listDeclarations},
		{"POST", "/api/v1/me/declarations", resident, nil, "Declare your health", s.declare},
		{"GET", "/api/v1/me/status", resident, nil, "Your status and its reasons", s.getStatus},
		{"GET", "/api/v1/me/status/history", resident, nil, "Every change of your status", s.getHistory},
		{"GET", "/api/v1/me/notifications", resident, nil, "Your notifications", s.getNotifications},
		{"GET", "/api/v1/me/code", resident, nil, "Your signed health code", s.getCode},
		{"GET", "/api/v1/me/code.png", resident, nil, "Your health code as PNG", s.getCodePNG},
		{"GET", "/api/v1/me/code.svg", resident, nil, "Your health code as SVG", s.getCodeSVG},
		{"POST", "/api/v1/me/checkins", resident, nil, "Check in by scanning a place code", s.placeCheckIn},
		{"POST", "/api/v1/me/paper-code", resident, nil, "Issue your paper code (revokes the previous one)", s.issuePaperCode},
		{"GET", "/api/v1/me/paper-code", resident, nil, "Your current paper code", s.getPaperCode},
		{"GET", "/api/v1/me/paper-code.png", resident, nil, "Your paper code as PNG", s.getPaperCodePNG},
		{"GET", "/api/v1/me/paper-code.pdf", resident, nil, "Your paper code as a printable PDF", s.getPaperCodePDF},

		{"GET", "/api/v1/residents/{id}", resident, nil, "A dependent's profile (guardian)", s.getResident},
		{"GET", "/api/v1/residents/{id}/declarations", resident, nil, "A dependent's declarations", s.listDeclarations},
		{"POST", "/api/v1/residents/{id}/declarations", resident, nil, "Declare for a dependent", s.declare},
		{"GET", "/api/v1/residents/{id}/status", resident, nil, "A dependent's status", s.getStatus},
		{"GET", "/api/v1/residents/{id}/status/history", resident, nil, "A dependent's status history", s.getHistory},
		{"GET", "/api/v1/residents/{id}/notifications", resident, nil, "A dependent's notifications", s.getNotifications},
		{"GET", "/api/v1/residents/{id}/code", resident, nil, "A dependent's health code", s.getCode},
		{"GET", "/api/v1/residents/{id}/code.png", resident, nil, "A dependent's health code as PNG", s.getCodePNG},
		{"GET", "/api/v1/residents/{id}/code.svg", resident, nil, "A dependent's health code as SVG", s.getCodeSVG},
		{"POST", "/api/v1/residents/{id}/paper-code", resident, nil, "Issue a dependent's paper code", s.issuePaperCode},
		{"GET", "/api/v1/residents/{id}/paper-code", resident, nil, "A dependent's current paper code", s.getPaperCode},
		{"GET", "/api/v1/residents/{id}/paper-code.png", resident, nil, "A dependent's paper code as PNG", s.getPaperCodePNG},
		{"GET", "/api/v1/residents/{id}/paper-code.pdf", resident, nil, "A dependent's paper code as a printable PDF", s.getPaperCodePDF},

		{"POST", "/api/v1/test-results", roles, lab, "Report a test result", s.addTestResult},
		{"POST", "/api/v1/vaccinations", roles, lab, "Report a vaccination", s.addVaccination},
		{"POST", "/api/v1/cases", roles, tracer, "Record a confirmed case", s.createCase},
		s.protectedRead("", route{"GET", "/api/v1/cases/{id}", roles, tracer, "A case", s.getCase}),
		{"POST", "/api/v1/cases/{id}/discharge", roles, tracer, "Record a discharge", s.dischargeCase},
		{"POST", "/api/v1/areas", roles, tracer, "Announce an area's risk level", s.addArea},
		s.protectedRead("", route{"POST", "/api/v1/cases/{id}/trace", roles, tracer, "Find a case's close contacts, with evidence", s.trace}),
		s.protectedRead("", route{"POST", "/api/v1/cases/{id}/designate", roles, tracer, "Designate traced contacts as close contacts", s.designate}),
		// Cross-region contact notices (issue 8): the signature on the
		// notice, checked against the trusted peers' trust lists, is the
		// credential of the federation endpoint.
		{"POST", "/api/v1/federation/contact-notices", public, nil, "Receive a signed contact notice from a trusted region", s.receiveNotice},
		{"GET", "/api/v1/contact-notices", roles, official, "Contact notices sent to other regions: the outbox", s.listOutgoingNotices},
		s.protectedRead("", route{"GET", "/api/v1/contact-proposals", roles, tracer, "Contact proposals received from other regions", s.listProposals}),
		{"POST", "/api/v1/contact-proposals/{id}/confirm", roles, tracer, "Confirm a contact proposal: designate the resident a close contact", s.confirmProposal},
		{"POST", "/api/v1/contact-proposals/{id}/dismiss", roles, tracer, "Dismiss a contact proposal, with a written reason", s.dismissProposal},
		{"POST", "/api/v1/paper-codes", roles, official, "Issue a paper code for a resident identified by document", s.issuePaperCodeOfficial},

		{"POST", "/api/v1/venues", roles, venue, "Create a venue", s.createVenue},
		{"GET", "/api/v1/venues", roles, venue, "Your venues", s.listVenues},
		{"PUT", "/api/v1/venues/{id}/policy", roles, venue, "Set a venue's admission policy", s.setVenuePolicy},
		{"GET", "/api/v1/venues/{id}/place-code.png", roles, venue, "A venue's printable place code (PNG)", s.placeCodePNG},
		{"GET", "/api/v1/venues/{id}/place-code.svg", roles, venue, "A venue's printable place code (SVG)", s.placeCodeSVG},
		{"POST", "/api/v1/venues/{id}/checkpoint-tokens", roles, venue, "Issue a checkpoint token for a venue", s.createCheckpointToken},
		{"GET", "/api/v1/checkpoint", roles, checkpoint, "The venues this checkpoint serves, with policies", s.getCheckpoint},
		{"POST", "/api/v1/checkins", roles, checkpoint, "Upload a batch of check-ins", s.uploadCheckIns},

		// Accountability: appeals, two-person overrides, the audit log and
		// the resident's data rights. A protected read (s.protectedRead)
		// reads a resident's data on someone else's behalf: it takes
		// ?purpose= and writes exactly one audit entry per call.
		{"POST", "/api/v1/me/appeals", resident, nil, "Contest a reason or a fact of your status", s.fileAppeal},
		{"GET", "/api/v1/me/appeals", resident, nil, "Your appeals and their decisions", s.listAppeals},
		{"GET", "/api/v1/me/access-log", resident, nil, "Who read your data, and why", s.getAccessLog},
		{"GET", "/api/v1/me/export", resident, nil, "Everything held about you, as JSON", s.exportData},
		{"POST", "/api/v1/residents/{id}/appeals", resident, nil, "Contest a reason or a fact of a dependent's status", s.fileAppeal},
		{"GET", "/api/v1/residents/{id}/appeals", resident, nil, "A dependent's appeals and their decisions", s.listAppeals},
		{"GET", "/api/v1/residents/{id}/access-log", resident, nil, "Who read a dependent's data, and why", s.getAccessLog},
		{"GET", "/api/v1/residents/{id}/export", resident, nil, "Everything held about a dependent, as JSON", s.exportData},
		{"GET", "/api/v1/appeals", roles, reviewer, "The appeal queue, earliest deadline first", s.appealQueue},
		s.protectedRead("appeal review", route{"GET", "/api/v1/appeals/{id}", roles, reviewer, "An appeal, with the status and facts it concerns", s.getAppeal}),
		{"POST", "/api/v1/appeals/{id}/decision", roles, reviewer, "Uphold or reject an appeal, with a written reason", s.decideAppeal},
		{"POST", "/api/v1/overrides", roles, tracer, "Propose an override: withdraw a fact, with a written reason", s.proposeOverride},
		{"GET", "/api/v1/overrides", roles, tracerOrReviewer, "Overrides by state, oldest first", s.overrideQueue},
		s.protectedRead("override review", route{"GET", "/api/v1/overrides/{id}", roles, tracerOrReviewer, "An override, with the status and facts it concerns", s.getOverride}),
		{"POST", "/api/v1/overrides/{id}/decision", roles, reviewer, "Approve or reject an override proposed by someone else", s.decideOverride},
		{"GET", "/api/v1/audit", roles, auditor, "The audit log, newest first (no health data)", s.listAudit},
		{"GET", "/api/v1/audit/verify", roles, auditor, "Check the audit log's hash chain", s.verifyAudit},
	}
}

// pageRoutes is every web page and page asset, with who may open it. Pages
// answer errors with a page and refuse cross-site form posts (handlePage);
// the OpenAPI document, which describes the JSON API, leaves them out.
func (s *Server) pageRoutes() []route {
	tracer := []healthcode.Role{healthcode.RoleTracer}
	venue := []healthcode.Role{healthcode.RoleVenue}
	official := []healthcode.Role{healthcode.RoleTracer, healthcode.RoleAdmin}
	reviewer := []healthcode.Role{healthcode.RoleReviewer}
	tracerOrReviewer := []healthcode.Role{healthcode.RoleTracer, healthcode.RoleReviewer}
	auditor := []healthcode.Role{healthcode.RoleAuditor}
	lab := []healthcode.Role{healthcode.RoleLab}
	admin := []healthcode.Role{healthcode.RoleAdmin}
	return []route{
		{"GET", "/static/{file...}", public, nil, "A static asset at a content-hashed URL, cached for ever", s.serveStatic},
		{"GET", "/sw.js", public, nil, "The checkpoint page's service worker", s.serveWorker},

		{"GET", "/{$}", public, nil, "Resident home: the code screen when signed in, else sign in", s.homePage},
		{"POST", "/signin", public, nil, "Sign in with phone and password (form)", s.signinPage},
		{"POST", "/signout", resident, nil, "Sign out (form)", s.signoutPage},
		{"GET", "/register", public, nil, "The enrollment form", s.registerPage},
		{"POST", "/register", public, nil, "Enroll (form)", s.registerPage},
		{"GET", "/status", resident, nil, "Your status, its reasons with their ends, and its history", s.statusPage},
		{"GET", "/declare", resident, nil, "The health declaration form", s.declarePage},
		{"POST", "/declare", resident, nil, "Declare (form)", s.declarePage},
		{"GET", "/family", resident, nil, "Your dependents", s.familyPage},
		{"POST", "/family", resident, nil, "Register a dependent (form)", s.familyPage},
		{"GET", "/scan", resident, nil, "Scan a place code with the camera", s.scanPage},
		{"GET", "/notifications", resident, nil, "Your notifications", s.notificationsPage},
		{"GET", "/paper", resident, nil, "Your paper code", s.paperPage},
		{"POST", "/paper", resident, nil, "Issue a paper code (form)", s.paperPage},
		{"GET", "/rules", public, nil, "The published rules, in plain words, and every publication", s.rulesPage},
		{"GET", "/rules/diff", public, nil, "What changed between two rule sets", s.rulesDiffPage},
		{"GET", "/appeals", resident, nil, "Your appeals, their decisions, and the form to file one", s.appealsPage},
		{"POST", "/appeals", resident, nil, "File an appeal (form)", s.appealsPage},
		{"GET", "/certificates", resident, nil, "Your EU DCC and SMART Health Card as QR codes; import a foreign certificate", s.certificatesPage},
		{"POST", "/certificates", resident, nil, "Import a foreign EU DCC (form)", s.certificatesPage},
		{"GET", "/access-log", resident, nil, "Who read your data and why; download all your data", s.accessLogPage},

		{"GET", "/checkpoint", public, nil, "The checkpoint scanner (works offline)", s.checkpointPage},
		{"POST", "/checkpoint/signin", public, nil, "Sign a checkpoint device in with its token (form)", s.checkpointSignin},

		{"GET", "/admin/signin", public, nil, "The sign-in form of the authority pages", s.adminSignin},
		{"POST", "/admin/signin", public, nil, "Sign in to the authority pages with an API token (form)", s.adminSignin},
		{"POST", "/admin/signout", public, nil, "Sign out of the authority or checkpoint pages (form)", s.adminSignout},
		{"GET", "/admin", roles, official, "Dashboard", s.dashboardPage},
		{"GET", "/admin/lookup", roles, official, "Resident lookup form (a purpose is required)", s.lookupPage},
		{"POST", "/admin/lookup", roles, official, "Look a resident up (form)", s.lookupPage},
		{"GET", "/admin/cases", roles, tracer, "Cases: confirm one, open one", s.casesPage},
		{"POST", "/admin/cases", roles, tracer, "Confirm a case (form)", s.casesPage},
		{"GET", "/admin/cases/{id}", roles, tracer, "A case: discharge, trace", s.casePage},
		{"POST", "/admin/cases/{id}/discharge", roles, tracer, "Discharge a case (form)", s.dischargePage},
		{"POST", "/admin/cases/{id}/trace", roles, tracer, "Trace a case: contacts as a table and a graph", s.tracePage},
		{"POST", "/admin/cases/{id}/designate", roles, tracer, "Designate traced contacts (form)", s.designatePage},
		{"GET", "/admin/contact-notices", roles, tracer, "Contact notices: proposals from other regions, notices sent to them", s.noticesPage},
		{"POST", "/admin/contact-proposals/{id}/confirm", roles, tracer, "Confirm a contact proposal (form)", s.confirmProposalPage},
		{"POST", "/admin/contact-proposals/{id}/dismiss", roles, tracer, "Dismiss a contact proposal with a reason (form)", s.dismissProposalPage},
		{"GET", "/admin/areas", roles, tracer, "Areas and their risk levels", s.areasPage},
		{"POST", "/admin/areas", roles, tracer, "Announce an area's risk level (form)", s.areasPage},
		{"GET", "/admin/venues", roles, venue, "Your venues", s.venuesPage},
		{"POST", "/admin/venues", roles, venue, "Create a venue (form)", s.venuesPage},
		{"POST", "/admin/venues/{id}/policy", roles, venue, "Set a venue's policy (form)", s.venuePolicyPage},
		{"POST", "/admin/venues/{id}/checkpoint-tokens", roles, venue, "Issue a checkpoint token (form)", s.venueTokenPage},
		{"GET", "/admin/venues/{id}/print", roles, venue, "A venue's place code, to print", s.venuePrintPage},
		{"GET", "/admin/paper-codes", roles, official, "Print paper codes for residents by document", s.paperCodesPage},
		{"POST", "/admin/paper-codes", roles, official, "Issue and print paper codes (PDF)", s.paperCodesPage},
		{"GET", "/admin/appeals", roles, reviewer, "The appeal queue, overdue ones flagged", s.appealQueuePage},
		{"GET", "/admin/appeals/{id}", roles, reviewer, "Open an appeal: the purpose form", s.appealPage},
		{"POST", "/admin/appeals/{id}", roles, reviewer, "Open an appeal with a purpose (recorded)", s.appealPage},
		{"POST", "/admin/appeals/{id}/decision", roles, reviewer, "Uphold or reject an appeal (form)", s.appealDecisionPage},
		{"GET", "/admin/overrides", roles, tracerOrReviewer, "Overrides by state; tracers propose one", s.overridesPage},
		{"POST", "/admin/overrides", roles, tracer, "Propose an override (form)", s.overridesPage},
		{"GET", "/admin/overrides/{id}", roles, tracerOrReviewer, "Open an override: the purpose form", s.overridePage},
		{"POST", "/admin/overrides/{id}", roles, tracerOrReviewer, "Open an override with a purpose (recorded)", s.overridePage},
		{"POST", "/admin/overrides/{id}/decision", roles, reviewer, "Approve or reject an override (form)", s.overrideDecisionPage},
		{"GET", "/admin/rules", roles, admin, "Rule sets: propose one, see what it changes, publish it", s.adminRulesPage},
		{"POST", "/admin/rules", roles, admin, "Preview a proposed rule set (form)", s.adminRulesPage},
		{"POST", "/admin/rules/publish", roles, admin, "Publish the previewed rule set (form)", s.adminPublishPage},
		{"GET", "/admin/rules/versions/{version}", roles, admin, "Preview putting an earlier rule set back in force", s.adminRollbackPage},
		{"POST", "/admin/rules/versions/{version}/publish", roles, admin, "Put an earlier rule set back in force (form)", s.adminRollbackPage},
		{"GET", "/admin/audit", roles, auditor, "The audit log, filtered by actor, subject, action and time", s.auditPage},
		{"GET", "/admin/audit/verify", roles, auditor, "Check the audit log's hash chain", s.auditVerifyPage},
		{"GET", "/admin/test-results", roles, lab, "The form a lab reports a test result with", s.testResultsPage},
		{"POST", "/admin/test-results", roles, lab, "Report a test result (form)", s.testResultsPage},
		{"GET", "/admin/vaccinations", roles, lab, "The form a lab reports a vaccination with", s.vaccinationsPage},
		{"POST", "/admin/vaccinations", roles, lab, "Report a vaccination (form)", s.vaccinationsPage},
		{"GET", "/admin/keys", roles, admin, "The region's keys and the commands that rotate and revoke them", s.keysPage},
		{"GET", "/admin/trust", roles, admin, "This region's trust list and the trusted peer regions", s.trustPage},
		{"POST", "/admin/trust", roles, admin, "Trust a peer region by the URL of its trust list (form)", s.trustPage},
		{"POST", "/admin/trust/remove", roles, admin, "Stop trusting a peer region (form)", s.trustRemovePage},
	}
}
