"""All API routers, one per area."""

from fastapi import APIRouter

from serving.api.routes import admin, health, metrics, model, recommend

api_router = APIRouter()
for module in (health, recommend, model, admin, metrics):
    api_router.include_router(module.router)
