#!/usr/bin/env bash
# One-time gcloud prerequisites before the first `b2brec deploy` (docs/runbook.md, step 1), run by an
# organisation admin with their own credentials: the Management and Clients folders (found by name, or
# MANAGEMENT_FOLDER_ID / CLIENTS_FOLDER_ID), the control plane project inside Management, its APIs, the
# Terraform deployer service account and its roles, and the GCS bucket holding every stack's Terraform
# state. The deployer gets no organisation role: folder roles on Clients (where it creates and runs client
# projects) and a viewer role on Management, roles on the control plane project, billing roles. Safe to
# re-run (existing things are left as they are). DRY_RUN=1 prints the gcloud commands instead of running them.
#
#   ORG_ID=123456789012 BILLING_ACCOUNT=01ABCD-23EF45-6789AB scripts/bootstrap-org.sh
#   ... after `b2brec deploy --env control-plane`:  scripts/bootstrap-org.sh --grant-control-plane
set -euo pipefail

: "${ORG_ID:?set ORG_ID to the numeric organisation id (gcloud organizations list)}"
: "${BILLING_ACCOUNT:?set BILLING_ACCOUNT to XXXXXX-XXXXXX-XXXXXX (gcloud billing accounts list)}"
PROJECT="${CONTROL_PLANE_PROJECT:-control-plane-prod}"
REGION="${REGION:-europe-west1}"
STATE_BUCKET="${STATE_BUCKET:-${PROJECT}-tfstate}"
DEPLOYER="terraform@${PROJECT}.iam.gserviceaccount.com"
APIS=(cloudresourcemanager.googleapis.com cloudbilling.googleapis.com billingbudgets.googleapis.com
      iam.googleapis.com serviceusage.googleapis.com storage.googleapis.com compute.googleapis.com
      run.googleapis.com bigquery.googleapis.com logging.googleapis.com monitoring.googleapis.com
      servicenetworking.googleapis.com artifactregistry.googleapis.com)
# The deployer's roles on the Clients folder (inherited by every client project it creates there): create
# projects, set their IAM, enable their APIs, link them to the billing account, and find the folder by name
# (client stacks look it up). No folderAdmin / folderIamAdmin: it cannot change any folder's IAM, nor create
# folders. No organisation role at all (docs/runbook.md, "What a compromised control plane could still do").
CLIENTS_ROLES=(roles/resourcemanager.folderViewer roles/resourcemanager.projectCreator
               roles/resourcemanager.projectIamAdmin roles/serviceusage.serviceUsageAdmin
               roles/billing.projectManager)
# On Management (which holds the control plane project): only finding it (the control-plane stack looks it up).
MANAGEMENT_ROLES=(roles/resourcemanager.folderViewer)
# Roles on the control plane project only, for the control-plane stack's resources; never owner/editor.
PROJECT_ROLES=(roles/bigquery.admin roles/storage.admin roles/compute.networkAdmin roles/artifactregistry.admin
               roles/run.admin roles/iam.serviceAccountAdmin roles/iam.serviceAccountUser
               roles/resourcemanager.projectIamAdmin roles/serviceusage.serviceUsageAdmin)

run() {
  if [[ "${DRY_RUN:-0}" == "1" ]]; then echo "+ $*"; else "$@"; fi
}
exists() {  # exists CMD...: true when the describe command succeeds (never in a dry run)
  [[ "${DRY_RUN:-0}" != "1" ]] && "$@" >/dev/null 2>&1
}

if [[ "${1:-}" == "--grant-control-plane" ]]; then
  # The control plane provisions clients by impersonating the deployer.
  run gcloud iam service-accounts add-iam-policy-binding "$DEPLOYER" --project "$PROJECT" \
    --member "serviceAccount:control-plane@${PROJECT}.iam.gserviceaccount.com" \
    --role roles/iam.serviceAccountTokenCreator
  exit 0
fi

folder_id() {  # folder_id NAME: the numeric id of the organisation's top-level folder NAME (created if missing)
  local name="$1" id=""
  if [[ "${DRY_RUN:-0}" == "1" ]]; then
    echo "+ gcloud resource-manager folders create --display-name $name --organization $ORG_ID" >&2
    echo "${name^^}_FOLDER_ID"
    return
  fi
  id=$(gcloud resource-manager folders list --organization "$ORG_ID" --filter "displayName=$name" --format "value(name)")
  [[ -n "$id" ]] || id=$(gcloud resource-manager folders create --display-name "$name" --organization "$ORG_ID" \
                          --format "value(name)")
  echo "${id#folders/}"
}
MANAGEMENT_FOLDER_ID="${MANAGEMENT_FOLDER_ID:-$(folder_id Management)}"
CLIENTS_FOLDER_ID="${CLIENTS_FOLDER_ID:-$(folder_id Clients)}"

# created inside Management, so the control-plane stack adopts it where it is (a project created earlier under
# the organisation: move it once, as this admin: gcloud projects move "$PROJECT" --folder "$MANAGEMENT_FOLDER_ID")
exists gcloud projects describe "$PROJECT" \
  || run gcloud projects create "$PROJECT" --folder "$MANAGEMENT_FOLDER_ID" --name "b2brec control plane"
run gcloud billing projects link "$PROJECT" --billing-account "$BILLING_ACCOUNT"
run gcloud services enable "${APIS[@]}" --project "$PROJECT"

exists gcloud iam service-accounts describe "$DEPLOYER" --project "$PROJECT" \
  || run gcloud iam service-accounts create terraform --project "$PROJECT" \
       --display-name "Terraform deployer" --description "Runs b2brec deploy (CI and the control plane)"
for role in "${CLIENTS_ROLES[@]}"; do
  run gcloud resource-manager folders add-iam-policy-binding "$CLIENTS_FOLDER_ID" \
    --member "serviceAccount:${DEPLOYER}" --role "$role" --condition None --quiet
done
for role in "${MANAGEMENT_ROLES[@]}"; do
  run gcloud resource-manager folders add-iam-policy-binding "$MANAGEMENT_FOLDER_ID" \
    --member "serviceAccount:${DEPLOYER}" --role "$role" --condition None --quiet
done
for role in "${PROJECT_ROLES[@]}"; do
  run gcloud projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:${DEPLOYER}" \
    --role "$role" --condition None --quiet
done
# billing.user links projects; billing.costsManager creates the per-client budgets.
for role in roles/billing.user roles/billing.costsManager; do
  run gcloud billing accounts add-iam-policy-binding "$BILLING_ACCOUNT" \
    --member "serviceAccount:${DEPLOYER}" --role "$role"
done

exists gcloud storage buckets describe "gs://${STATE_BUCKET}" \
  || run gcloud storage buckets create "gs://${STATE_BUCKET}" --project "$PROJECT" --location "$REGION" \
       --uniform-bucket-level-access --public-access-prevention
run gcloud storage buckets update "gs://${STATE_BUCKET}" --versioning
run gcloud storage buckets add-iam-policy-binding "gs://${STATE_BUCKET}" \
  --member "serviceAccount:${DEPLOYER}" --role roles/storage.objectAdmin

echo "bootstrap done (folders: Management ${MANAGEMENT_FOLDER_ID}, Clients ${CLIENTS_FOLDER_ID})."
echo "next, as this organisation admin: b2brec deploy --env org; then as the deployer"
echo "(gcloud config set auth/impersonate_service_account ${DEPLOYER}): b2brec deploy --env control-plane (docs/runbook.md)"
