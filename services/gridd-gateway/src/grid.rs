//! `GridService`: locate a point in the unit grid and explain who is responsible.

use gridd_config::CityHandle;
use gridd_core::FieldError;
use gridd_core::ids::StreetCode;
use gridd_core::time::Clock;
use gridd_proto::tonic::{self, Request, Response, Status};
use gridd_proto::v1;
use std::sync::Arc;

use crate::{invalid, page_size};

/// The gRPC adapter.
pub struct GridGrpc {
    city: CityHandle,
    clock: Arc<dyn Clock>,
}

impl GridGrpc {
    /// An adapter over the current city.
    pub fn new(city: CityHandle, clock: Arc<dyn Clock>) -> Self {
        Self { city, clock }
    }
}

fn responsibility(
    city: &gridd_config::CityConfig,
    squad: &gridd_core::ids::SquadId,
    routing: &gridd_core::ticket::Routing,
) -> v1::Responsibility {
    v1::Responsibility {
        squad_id: squad.to_string(),
        squad_name: city.responsibility.squad(squad).map(|s| s.name.clone()).unwrap_or_default(),
        routing: Some(gridd_proto::routing(routing)),
    }
}

#[tonic::async_trait]
impl v1::grid_service_server::GridService for GridGrpc {
    async fn locate(&self, request: Request<v1::LocateRequest>) -> Result<Response<v1::LocateResponse>, Status> {
        let req = request.into_inner();
        let point = gridd_proto::wgs84_point("point", req.point.as_ref())
            .and_then(|p| p.ok_or_else(|| FieldError::new("point", "is required")))
            .map_err(invalid)?;
        let city = self.city.current();
        let category =
            if req.category.is_empty() { None } else { Some(city.catalogue.terms(&req.category, "").map_err(invalid)?.class.code.clone()) };
        let at = req.at.as_ref().map_or_else(|| self.clock.now(), gridd_proto::from_timestamp);
        let e = gridd_router::explain(&city, point, category.as_ref(), at);
        Ok(Response::new(v1::LocateResponse {
            found: e.cell.is_some(),
            cell: e.cell.as_ref().map(gridd_proto::cell_ref),
            responsible: e.responsible.iter().map(|(squad, routing)| responsibility(&city, squad, routing)).collect(),
            grid_version: e.grid_version,
            outside_by_m: e.outside_by_m,
            manual_reason: e.manual.map_or(v1::ManualReason::Unspecified, gridd_proto::manual_reason).into(),
        }))
    }

    async fn get_grid(&self, request: Request<v1::GetGridRequest>) -> Result<Response<v1::GetGridResponse>, Status> {
        let req = request.into_inner();
        let limit = page_size(req.page.as_ref()).map_err(invalid)?;
        let street = (!req.street_code.is_empty())
            .then(|| StreetCode::parse(&req.street_code).map_err(|e| invalid(FieldError::new("street_code", e))))
            .transpose()?;
        let after = req.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        let city = self.city.current();
        let grid = city.grid();
        let matching = |c: &&gridd_core::grid::CellInfo| street.as_ref().is_none_or(|s| &c.code.street() == s);
        let total_cells = grid.cells().iter().filter(matching).count() as u64;
        let page: Vec<&gridd_core::grid::CellInfo> =
            grid.cells().iter().filter(matching).filter(|c| after.is_empty() || c.code.as_str() > after.as_str()).take(limit).collect();
        let next_page_token = if page.len() == limit { page.last().map(|c| c.code.to_string()).unwrap_or_default() } else { String::new() };
        let cells = page
            .into_iter()
            .map(|c| v1::Cell {
                cell: Some(gridd_proto::cell_ref(&grid.cell_ref(c))),
                area_m2: c.area_m2,
                geometry_geojson: if req.include_geometry { gridd_config::geojson::polygon_json(&grid.polygon(c)) } else { String::new() },
            })
            .collect();
        Ok(Response::new(v1::GetGridResponse {
            grid_version: grid.version().to_owned(),
            city_code: grid.divisions().city.to_string(),
            total_cells,
            cells,
            next_page_token,
        }))
    }

    async fn get_catalogue(&self, _request: Request<v1::GetCatalogueRequest>) -> Result<Response<v1::GetCatalogueResponse>, Status> {
        let city = self.city.current();
        let categories = city.catalogue.classes().map(category_info).collect();
        Ok(Response::new(v1::GetCatalogueResponse { version: city.catalogue.version.clone(), categories }))
    }
}

fn category_info(class: &gridd_core::category::CategoryClass) -> v1::CategoryInfo {
    v1::CategoryInfo {
        code: class.code.to_string(),
        name: class.name.clone(),
        name_en: class.name_en.clone(),
        pinyin_initials: class.pinyin_initials(),
        urgency: gridd_proto::urgency(class.urgency).into(),
        handling: class.handling.to_string(),
        conditions: class
            .conditions
            .iter()
            .map(|c| v1::CategoryCondition {
                name: c.name.clone(),
                label: c.label.clone(),
                urgency: gridd_proto::urgency(c.urgency).into(),
                handling: c.handling.to_string(),
            })
            .collect(),
    }
}
