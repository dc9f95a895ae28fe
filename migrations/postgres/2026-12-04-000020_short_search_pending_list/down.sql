ALTER INDEX clients_search_filters_idx RESET (gin_pending_list_limit);
