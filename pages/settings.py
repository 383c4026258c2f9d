"""Settings: the invoice billing switch, invoice profiles, parties and groups, CSV import."""

import streamlit as st

from app import mailer
from app.auth import ADMIN_NOTE, VIEWER_NOTE, may
from app.state import actor, reading, require_router, writing
from app.ui import attempt, group_choices, md, party_picker, table
from core import (
    ADMIN,
    MANAGER,
    clock,
    create_group,
    create_party,
    current_profile,
    get_party,
    import_csv,
    invoice_billing_enabled,
    save_invoice_profile,
    send_test_email,
    set_invoice_billing,
    set_time_zone,
    template_csv,
    time_zone_name,
    update_group,
    update_party,
)
from core.models import DEFAULT_EMAIL_BODY, DEFAULT_EMAIL_SUBJECT
from core.money import parse_money, to_cents
from core.validation import PLACEHOLDERS

require_router()
st.title("Settings")
if not may(ADMIN):
    # Managers and viewers see the settings the whole office works by; changing them is for an administrator.
    st.info(ADMIN_NOTE if may(MANAGER) else VIEWER_NOTE, icon=":material/lock:")
    with reading() as s:
        enabled, zone_name, practice_today, profile = (invoice_billing_enabled(s), time_zone_name(s), clock.today(s),
                                                       current_profile(s))
    zone_label = zone_name or f"the server's ({clock.server_zone_name()})"
    st.markdown(f"**Invoice billing** is {'on' if enabled else 'off'}. **Time zone:** {md(zone_label)}; the "
                f"practice's today is {practice_today:%A, %B %-d, %Y}.")
    if profile is None:
        st.caption("No invoice profile yet: the first batch uses a plain default.")
    else:
        st.subheader(f"Invoice profile, version {profile.version}")
        table([{"Setting": k, "Value": v} for k, v in [
            ("Remit-to name", profile.remit_to_name), ("Remit-to address", profile.remit_to_address),
            ("Footer message", profile.footer), ("Payment terms (days)", str(profile.terms_days)),
            ("Invoice number prefix", profile.number_prefix), ("Total by", profile.total_by),
            ("Show procedure codes", "yes" if profile.show_procedure_codes else "no"),
            ("Aging counts days", profile.aging_basis),
            ("Write-offs above this amount ask twice", f"${profile.write_off_confirm_cents / 100:,.2f}"),
            ("E-mail subject", profile.email_subject), ("E-mail text", profile.email_body),
            ("Saved by", profile.created_by)]])
    st.stop()
tab_billing, tab_profile, tab_parties, tab_import = st.tabs(["Invoice billing", "Invoice profile",
                                                              "Parties and groups", "CSV import"])

with tab_billing:
    with reading() as s:
        enabled = invoice_billing_enabled(s)
    st.write("While invoice billing is off, batches and invoice payments are refused.")
    wanted = st.toggle("Invoice billing", value=enabled, key="set_billing")

    def _switch():
        with writing() as s:
            set_invoice_billing(s, enabled=wanted, actor=actor())
        return True

    def _keep_on():
        st.session_state["set_billing"] = True

    if wanted and not enabled:
        if attempt(_switch):
            st.rerun()
    elif enabled and not wanted:
        # Switching off stops the whole office's batches and payments: it takes a second, deliberate click.
        st.warning("Switch invoice billing **off**? Until it is switched on again, nobody can create or resend a "
                   "batch, post a receipt or allocate money.", icon=":material/warning:")
        c1, c2, _ = st.columns([1.2, 1, 3])
        if c1.button("Switch billing off", type="primary", key="set_billing_off"):
            if attempt(_switch):
                st.rerun()
        c2.button("Keep it on", key="set_billing_keep", on_click=_keep_on)

    st.subheader("Time zone")
    with reading() as s:
        zone_now, today = time_zone_name(s), clock.today(s)
    server = f"The server's ({clock.server_zone_name()})"
    zones = ["", *sorted(clock.valid_zone_names())]
    st.write(f"The practice's today is **{today:%A, %B %-d, %Y}**. Received dates, due dates, overdue flags and "
             "aging count days in this zone.")
    with st.form("set_zone_form"):
        chosen = st.selectbox("Practice time zone", zones, index=zones.index(zone_now) if zone_now in zones else 0,
                              format_func=lambda z: z or server, key="set_zone")
        save_zone = st.form_submit_button("Save time zone")
    if save_zone and chosen != zone_now:
        def _zone():
            with writing() as s:
                set_time_zone(s, zone=chosen, actor=actor())
            return True

        if attempt(_zone):
            st.rerun()

    st.subheader("E-mail")
    smtp = mailer.settings_or_say()
    if smtp is not None:
        st.write(f"Invoices go out from **{md(smtp.from_address)}** through **{md(smtp.host)}:{smtp.port}** "
                 f"({smtp.security}{', as ' + md(smtp.user) if smtp.user else ''})"
                 + (f", replies to {md(smtp.reply_to)}" if smtp.reply_to else "") + ".")
        with st.form("set_smtp_test_form"):
            test_to = st.text_input("Send a test e-mail to", key="set_smtp_test_to", placeholder="you@example.com")
            test = st.form_submit_button("Send a test e-mail", icon=":material/send:")
        if test:
            def _test():
                with writing() as s:
                    return send_test_email(s, to=test_to, actor=actor(), settings=smtp)

            said = attempt(_test)
            if said:
                st.success(md(said), icon=":material/mark_email_read:")

with tab_profile:
    with reading() as s:
        profile = current_profile(s)
    st.caption(f"Version {profile.version}, saved by {md(profile.created_by)}. Saving makes a new version; batches "
               "already made keep the version they were made with." if profile else
               "No profile yet: the first batch uses a plain default.")
    with st.form("set_profile_form"):
        name = st.text_input("Remit-to name", value=profile.remit_to_name if profile else "", key="set_remit_name")
        address = st.text_area("Remit-to address", value=profile.remit_to_address if profile else "",
                               key="set_remit_address")
        footer = st.text_input("Footer message", value=profile.footer if profile else "", key="set_footer",
                               help="Printed at the bottom of every page; at most 200 characters fit.")
        c1, c2, c3 = st.columns(3)
        terms = c1.number_input("Payment terms (days)", min_value=0, max_value=365,
                                value=profile.terms_days if profile else 30, step=1, key="set_terms")
        prefix = c2.text_input("Invoice number prefix", value=profile.number_prefix if profile else "INV-",
                               key="set_prefix")
        total_by = c3.radio("Total by", ["patient", "procedure"], key="set_total_by",
                            index=0 if not profile or profile.total_by == "patient" else 1, horizontal=True)
        codes = st.checkbox("Show procedure codes", value=profile.show_procedure_codes if profile else True,
                            key="set_codes")
        a1, a2 = st.columns(2)
        basis = a1.radio("Aging counts days", ["first sent", "due date"], horizontal=True, key="set_aging_basis",
                         index=1 if profile and profile.aging_basis == "due date" else 0,
                         captions=["since an invoice was first sent", "past its due date"])
        confirm_over = a2.text_input("Write-offs above this amount ask twice",
                                     value=f"{(profile.write_off_confirm_cents if profile else 5000) / 100:.2f}",
                                     key="set_write_off_confirm")
        placeholders = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        subject = st.text_input("E-mail subject", value=profile.email_subject if profile else DEFAULT_EMAIL_SUBJECT,
                                key="set_email_subject", max_chars=300, help=f"Placeholders: {placeholders}.")
        body = st.text_area("E-mail text", value=profile.email_body if profile else DEFAULT_EMAIL_BODY,
                            key="set_email_body", max_chars=4000, height=160,
                            help=f"Placeholders: {placeholders}. The internal note is never sent.")
        logo = st.file_uploader("Logo (PNG or JPEG, at most 2 MB)", type=["png", "jpg", "jpeg"], key="set_logo")
        save = st.form_submit_button("Save profile", type="primary")
    if save:
        fields = dict(remit_to_name=name, remit_to_address=address, footer=footer, terms_days=int(terms),
                      number_prefix=prefix, total_by=total_by, show_procedure_codes=codes, aging_basis=basis,
                      email_subject=subject, email_body=body)
        if logo is not None:
            fields.update(logo=logo.getvalue(), logo_mime=logo.type or "image/png")

        def _save():
            # A bad threshold is refused like any other field: nothing is saved.
            fields["write_off_confirm_cents"] = to_cents(parse_money(
                confirm_over, field="The write-off amount that asks twice", allow_zero=True))
            with writing() as s:
                return save_invoice_profile(s, actor=actor(), **fields).version

        version = attempt(_save)
        if version:
            st.success(f"Saved as version {version}. New batches use it.")

with tab_parties:
    left, right = st.columns(2)
    groups = group_choices()
    with left:
        st.subheader("Add a party")
        with st.form("set_new_party", clear_on_submit=False):
            code = st.text_input("Account code", key="set_new_code")
            pname = st.text_input("Name", key="set_new_name")
            kind = st.radio("Kind", ["employer", "attorney"], horizontal=True, key="set_new_kind")
            group = st.selectbox("Group", list(groups), format_func=groups.get, index=None, key="set_new_group")
            billable = st.checkbox("Billable", value=True, key="set_new_billable")
            contact = st.text_input("Billing contact", key="set_new_contact")
            email = st.text_input("Billing e-mail (To)", key="set_new_email", help="Invoices are e-mailed here; several addresses separated by commas.")
            email_cc = st.text_input("Billing e-mail (Cc)", key="set_new_email_cc", help="Copied on every invoice.")
            line1 = st.text_input("Address line 1", key="set_new_line1")
            line2 = st.text_input("Address line 2", key="set_new_line2")
            a, b, c = st.columns([2, 1, 1])
            city = a.text_input("City", key="set_new_city")
            state = b.text_input("State", key="set_new_state")
            postal = c.text_input("Postal code", key="set_new_postal")
            add = st.form_submit_button("Add party", type="primary")
        if add:
            def _add():
                with writing() as s:
                    return create_party(s, account_code=code, name=pname, kind=kind, group_id=group,
                                        billable=billable, contact_name=contact, email=email, email_cc=email_cc, address_line1=line1,
                                        address_line2=line2, city=city, state=state, postal_code=postal,
                                        actor=actor()).account_code

            made = attempt(_add)
            if made:
                st.success(f"Party {md(made)} added.")
        st.subheader("Add a group")
        with st.form("set_new_group_form"):
            gname = st.text_input("Group name", key="set_group_name")
            add_group = st.form_submit_button("Add group")
        if add_group:
            def _group():
                with writing() as s:
                    return create_group(s, name=gname, actor=actor()).name

            if attempt(_group):
                st.success(f"Group {md(gname)} added.")
        st.subheader("Rename or deactivate a group")
        all_groups = group_choices(include_inactive=True)
        gid = st.selectbox("Group", list(all_groups), format_func=all_groups.get, index=None, key="set_edit_group")
        if gid is not None:
            with st.form("set_edit_group_form"):
                new_name = st.text_input("Name", value=all_groups[gid].removesuffix(" (inactive)"),
                                         key=f"set_group_name_{gid}")
                keep = st.checkbox("Active (shown in look-ups)", value=not all_groups[gid].endswith("(inactive)"),
                                   key=f"set_group_active_{gid}")
                save_group = st.form_submit_button("Save group")
            if save_group:
                def _edit_group():
                    with writing() as s:
                        return update_group(s, group_id=gid, name=new_name, active=keep, actor=actor()).name

                if attempt(_edit_group):
                    st.success("Group saved.")
    with right:
        st.subheader("Edit or deactivate a party")
        pid = party_picker("Party", key="set_edit_party", include_inactive=True)
        if pid is not None:
            with reading() as s:
                party = get_party(s, pid)
            with st.form("set_edit_form"):
                ename = st.text_input("Name", value=party.name, key=f"set_edit_name_{pid}")
                egroup = st.selectbox("Group", list(groups), format_func=groups.get, key=f"set_edit_group_{pid}",
                                      index=list(groups).index(party.group_id) if party.group_id in groups else None)
                ebill = st.checkbox("Billable", value=party.billable, key=f"set_edit_billable_{pid}")
                eactive = st.checkbox("Active (shown in look-ups)", value=party.active, key=f"set_edit_active_{pid}")
                econtact = st.text_input("Billing contact", value=party.contact_name, key=f"set_edit_contact_{pid}")
                eemail = st.text_input("Billing e-mail (To)", value=party.email, key=f"set_edit_email_{pid}",
                                       help="Invoices are e-mailed here; several addresses separated by commas.")
                eemail_cc = st.text_input("Billing e-mail (Cc)", value=party.email_cc, key=f"set_edit_email_cc_{pid}",
                                          help="Copied on every invoice.")
                e1 = st.text_input("Address line 1", value=party.address_line1, key=f"set_edit_line1_{pid}")
                e2 = st.text_input("Address line 2", value=party.address_line2, key=f"set_edit_line2_{pid}")
                a, b, c = st.columns([2, 1, 1])
                ecity = a.text_input("City", value=party.city, key=f"set_edit_city_{pid}")
                estate = b.text_input("State", value=party.state, key=f"set_edit_state_{pid}")
                epostal = c.text_input("Postal code", value=party.postal_code, key=f"set_edit_postal_{pid}")
                save_party = st.form_submit_button("Save party")
            if save_party:
                def _edit():
                    with writing() as s:
                        update_party(s, party_id=pid, name=ename, group_id=egroup, billable=ebill, active=eactive,
                                     contact_name=econtact, email=eemail, email_cc=eemail_cc, address_line1=e1, address_line2=e2,
                                     city=ecity, state=estate, postal_code=epostal, actor=actor())
                    return True

                if attempt(_edit):
                    st.success("Saved. Invoices already sent keep the bill-to block they were sent with.")

with tab_import:
    kind = st.radio("Import", ["parties", "encounters"], horizontal=True, key="set_import_kind",
                    help="Import parties first: encounters name their party by account code.")
    st.download_button(f"Download the {kind} template", data=template_csv(kind), file_name=f"{kind}-template.csv",
                       mime="text/csv", key=f"set_template_{kind}", icon=":material/download:", on_click="ignore")
    upload = st.file_uploader("CSV file", type=["csv"], key="set_import_file")
    pasted = st.text_area("...or paste the CSV here", key="set_import_text", height=120)
    if st.button("Import", type="primary", key="set_import_go", icon=":material/upload_file:"):
        data = upload.getvalue() if upload is not None else pasted
        if not data:
            st.error("Choose a file or paste CSV text first.")
        else:
            def _import():
                with writing() as s:
                    return import_csv(s, kind=kind, data=data, actor=actor())

            report = attempt(_import)
            if report is not None:
                if report.ok:
                    st.success(f"Imported: {report.created} created, {report.updated} updated, "
                               f"{report.unchanged} unchanged.")
                else:
                    st.error(f"Nothing was imported: {len(report.errors)} problem(s). Fix them and import the "
                             "whole file again.")
                    table([{"Row": e.row, "Column": e.column, "Problem": e.message} for e in report.errors])
